// e2e: push the examples with the real CLI to a real server, then call them every way a user would.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { postWithHost, readJsonLines, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
});

interface PushJson {
  model_id: string;
  model_name: string;
  deployment_id: string;
  predict_url: string;
  status: string;
}

test('push examples/hello: ACTIVE, and both URL forms and `plinth predict` answer', async () => {
  const pushed = await platform.cli(['push', 'examples/hello', '--output', 'json']);
  assert.equal(pushed.code, 0, pushed.stderr + pushed.stdout);
  const result = JSON.parse(pushed.stdout) as PushJson;
  assert.equal(result.status, 'ACTIVE');
  assert.equal(result.model_name, 'hello');
  assert.equal(
    result.predict_url,
    `http://model-${result.model_id}.localhost:${platform.port}/environments/production/predict`,
  );

  const deployment = await platform.api<{
    status: string;
    active_replica_count: number;
    environment: string;
  }>('GET', `/v1/models/hello/deployments/${result.deployment_id}`);
  assert.equal(deployment.body.status, 'ACTIVE');
  assert.equal(deployment.body.active_replica_count, 1);
  assert.equal(deployment.body.environment, 'production');

  const input = JSON.stringify({ text: 'Plinth is fast and easy' });
  const expected = { words: 5, characters: 23, longest_word: 'plinth', sentiment: 'positive', score: 2 };
  const host = await postWithHost(
    platform.port,
    `model-${result.model_id}.localhost:${platform.port}`,
    '/environments/production/predict',
    input,
  );
  assert.equal(host.status, 200, host.body);
  assert.deepEqual(JSON.parse(host.body), expected);
  const byDeployment = await postWithHost(
    platform.port,
    `model-${result.model_id}.localhost`,
    `/deployment/${result.deployment_id}/predict`,
    input,
  );
  assert.deepEqual(JSON.parse(byDeployment.body), expected);

  for (const path of [
    `/models/${result.model_id}/environments/production/predict`,
    `/models/${result.model_id}/production/predict`,
    `/models/hello/deployment/${result.deployment_id}/predict`,
  ]) {
    const res = await fetch(`${platform.url}${path}`, { method: 'POST', body: input });
    assert.equal(res.status, 200, path);
    assert.deepEqual(await res.json(), expected, path);
    assert.ok(res.headers.get('x-request-id'), 'every answer carries a request id');
  }

  const predicted = await platform.cli(['predict', '--model', 'hello', '-d', input]);
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.deepEqual(JSON.parse(predicted.stdout), expected);

  const modelError = await platform.cli(['predict', '--model', 'hello', '-d', '{"nope": 1}']);
  assert.equal(modelError.code, 1);
  assert.match(modelError.stderr, /expected \{"text": "\.\.\."\}/);

  const listed = await platform.cli(['deployments', 'list', '--model', 'hello']);
  assert.match(
    listed.stdout,
    new RegExp(`${result.deployment_id}\\s+deployment-1\\s+ACTIVE\\s+1\\s+1x2\\s+production`),
  );
  const got = await platform.cli(['deployments', 'get', 'deployment-1', '--model', 'hello']);
  assert.equal(got.code, 0, got.stderr);
  assert.match(got.stdout, /status\s+ACTIVE/);
  assert.match(got.stdout, /events:\n.*- → BUILDING: pushed bundle/);
  assert.match(got.stdout, /LOADING_MODEL → ACTIVE/);
});

test('the stream example delivers its chunks one by one', async () => {
  const pushed = await platform.cli(['push', 'examples/stream', '--output', 'json']);
  assert.equal(pushed.code, 0, pushed.stderr);
  const { model_id } = JSON.parse(pushed.stdout) as PushJson;
  const res = await fetch(`${platform.url}/models/${model_id}/environments/production/predict`, {
    method: 'POST',
    body: JSON.stringify({ tokens: 4, delay_ms: 200, with_time: true }),
  });
  assert.equal(res.status, 200);
  const { items: tokens, firstReceivedAtMs } = await readJsonLines<{ token: string; produced_at_ms: number }>(
    res,
  );
  assert.deepEqual(
    tokens.map((t) => t.token),
    ['the', 'quick', 'brown', 'fox'],
  );
  // Causality, not speed: the first chunk was in our hands before the model produced the last one.
  assert.ok(
    firstReceivedAtMs! < tokens.at(-1)!.produced_at_ms,
    'the first chunk arrived only after the last was produced',
  );
});

test('a request sent while the model is still loading waits for it instead of failing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-slow-'));
  try {
    mkdirSync(join(dir, 'model'));
    writeFileSync(join(dir, 'config.yaml'), 'model_name: slow\n');
    writeFileSync(
      join(dir, 'model', 'model.ts'),
      `export class Model {
  loaded = false;
  async load() { await new Promise((r) => setTimeout(r, 1500)); this.loaded = true; }
  predict() { return { loaded: this.loaded }; }
}\n`,
    );
    const pushed = await platform.cli(['push', dir, '--no-wait', '--output', 'json']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const { model_id, status } = JSON.parse(pushed.stdout) as PushJson;
    assert.equal(status, 'BUILDING');
    const res = await fetch(`${platform.url}/models/${model_id}/environments/production/predict`, {
      method: 'POST',
      body: '{}',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { loaded: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('`plinth init` makes a model that deploys and answers', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'plinth-init-')), 'my-model');
  try {
    const init = await platform.cli(['init', dir]);
    assert.equal(init.code, 0, init.stderr);
    const again = await platform.cli(['init', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists and is not empty/);
    const pushed = await platform.cli(['push', dir, '--output', 'json']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const predicted = await platform.cli(['predict', dir, '-d', '{"text": "two words"}']);
    assert.equal(predicted.code, 0, predicted.stderr);
    assert.deepEqual(JSON.parse(predicted.stdout), { length: 9, words: 2 });
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});

// e2e: user mistakes get one clear message naming what is wrong, and the server keeps serving.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-models-'));

const modelDir = (name: string, files: Record<string, string>): string =>
  writeTree(join(scratch, name), files);

before(async () => {
  platform = await startPlatform();
  const hello = await platform.cli(['push', 'examples/hello']);
  assert.equal(hello.code, 0, hello.stderr);
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function helloStillAnswers(): Promise<void> {
  const res = await fetch(`${platform.url}/models/hello/production/predict`, {
    method: 'POST',
    body: '{"text":"still here"}',
  });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { words: number }).words, 2);
}

test('a typo in config.yaml names the file and the key, and suggests the right one', async () => {
  const dir = modelDir('typo', {
    'config.yaml': 'model_name: typo\nrequirments:\n  - numpy\n',
    'model/model.ts': 'export class Model { predict() { return 1; } }\n',
  });
  const r = await platform.cli(['push', dir]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr.trim(),
    `error: ${join(dir, 'config.yaml')}: unknown key "requirments" — did you mean "requirements"?`,
  );
  const models = await platform.api<{ models: { name: string }[] }>('GET', '/v1/models');
  assert.deepEqual(
    models.body.models.map((m) => m.name),
    ['hello'],
    'nothing was created',
  );
  await helloStillAnswers();
});

test('a missing model file is named', async () => {
  const dir = modelDir('nofile', { 'config.yaml': 'model_name: nofile\n', 'model/helper.ts': 'export {}\n' });
  const r = await platform.cli(['push', dir]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^error: no model file in .*nofile: expected model\/model\.py \(Python\) or model\/model\.ts, model\.js or model\.mjs/,
  );
  await helloStillAnswers();
});

test("a load() that throws ends in DEPLOY_FAILED with the model's message in the event and the logs", async () => {
  const dir = modelDir('broken', {
    'config.yaml': 'model_name: broken\n',
    'model/model.ts': `export class Model {
  load() { throw new Error('weights not found at /data/missing.bin'); }
  predict() { return 1; }
}\n`,
  });
  const r = await platform.cli(['push', dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /broken deployment-1 \(d[a-z2-7]{7}\) is DEPLOY_FAILED: .*load\(\) failed: weights not found at \/data\/missing\.bin/,
  );
  assert.match(r.stderr, /plinth logs --model broken/);

  const d = await platform.api<{ status: string; status_reason: string }>(
    'GET',
    '/v1/models/broken/deployments/deployment-1',
  );
  assert.equal(d.body.status, 'DEPLOY_FAILED');
  const events = await platform.api<{ events: { to: string; reason: string }[] }>(
    'GET',
    '/v1/models/broken/deployments/deployment-1/events',
  );
  const failed = events.body.events.at(-1)!;
  assert.equal(failed.to, 'DEPLOY_FAILED');
  assert.match(failed.reason, /3 failed starts in a row; last: load\(\) failed: weights not found/);

  const logs = await platform.cli(['logs', '--model', 'broken']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(
    logs.stdout,
    /ERROR\s+replica\/r[a-z2-7]{7}: Error: weights not found at \/data\/missing\.bin/,
  );
  const errorsOnly = await platform.cli(['logs', '--model', 'broken', '--level', 'error']);
  assert.doesNotMatch(errorsOnly.stdout, / INFO /);

  const call = await fetch(`${platform.url}/models/broken/production/predict`, {
    method: 'POST',
    body: '{}',
  });
  assert.equal(call.status, 503);
  const body = (await call.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'DEPLOYMENT_FAILED');
  await helloStillAnswers();

  // Fixed and pushed again: production never served, so the fixed deployment takes it.
  writeTree(dir, { 'model/model.ts': 'export class Model { predict() { return { fixed: true }; } }\n' });
  const fixed = await platform.cli(['push', dir]);
  assert.equal(fixed.code, 0, fixed.stderr);
  const again = await fetch(`${platform.url}/models/broken/production/predict`, {
    method: 'POST',
    body: '{}',
  });
  assert.deepEqual(await again.json(), { fixed: true });
});

test('API and CLI refusals are one clear line', async () => {
  const noModel = await platform.cli(['predict', '--model', 'ghost', '-d', '{}']);
  assert.equal(noModel.code, 1);
  assert.equal(noModel.stderr.trim(), 'error: ghost: model "ghost" not found');
  const badJson = await platform.cli(['predict', '--model', 'hello', '-d', '{oops']);
  assert.equal(badJson.code, 1);
  assert.match(badJson.stderr, /^error: -d is not valid JSON/);
  const notDir = await platform.cli(['push', join(scratch, 'does-not-exist')]);
  assert.equal(notDir.code, 1);
  assert.match(notDir.stderr, /does-not-exist is not a directory/);
  const unauth = await fetch(`${platform.url}/v1/models`);
  assert.equal(unauth.status, 401);
  assert.equal(((await unauth.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
  await helloStillAnswers();
});

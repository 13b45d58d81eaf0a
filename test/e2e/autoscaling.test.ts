// e2e: concurrency autoscaling on the real server: 0 → N → 0 under load with no failed request,
// and requests that arrive at zero replicas all succeed.
import { sleep, until } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { load, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
let deploymentId: string;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-scale-'));

before(async () => {
  platform = await startPlatform();
  const dir = writeTree(join(scratch, 'sleepy'), {
    'config.yaml': [
      'model_name: sleepy',
      'runtime:',
      '  predict_concurrency: 1',
      'autoscaling:',
      '  min_replica: 0',
      '  max_replica: 3',
      '  concurrency_target: 1',
      '  target_utilization_percentage: 100',
      '  autoscaling_window: 4',
      '  scale_down_delay: 3',
      '',
    ].join('\n'),
    'model/model.ts': `export class Model {
  async predict(input: { ms?: number }) {
    await new Promise((r) => setTimeout(r, input.ms ?? 300));
    return { pid: process.pid };
  }
}\n`,
  });
  const r = await platform.cli(['push', dir, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  deploymentId = (JSON.parse(r.stdout) as { deployment_id: string }).deployment_id;
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function state(): Promise<{ status: string; active_replica_count: number }> {
  return (
    await platform.api<{ status: string; active_replica_count: number }>(
      'GET',
      `/v1/models/sleepy/deployments/${deploymentId}`,
    )
  ).body;
}

/** Sets min = max = n through the CLI and waits until n replicas are ready. */
async function pinReplicas(n: number): Promise<void> {
  const set = await platform.cli([
    'autoscaling',
    'set',
    '--model',
    'sleepy',
    '--deployment',
    deploymentId,
    '--min-replica',
    String(n),
    '--max-replica',
    String(n),
  ]);
  assert.equal(set.code, 0, set.stderr);
  await until('the deployment', state, (x) => x.active_replica_count === n, 30_000, 250);
}

async function predict(): Promise<{ status: number; pid?: number }> {
  try {
    const res = await fetch(`${platform.url}/models/sleepy/production/predict`, {
      method: 'POST',
      body: '{"ms": 300}',
    });
    return { status: res.status, ...((await res.json()) as { pid?: number }) };
  } catch {
    return { status: 0 };
  }
}

test('under load the deployment scales up, then down to zero, with no failed request', async () => {
  const traffic = load(6, predict);
  let most = 0;
  const deadline = Date.now() + 12_000;
  while (Date.now() < deadline && most < 3) {
    most = Math.max(most, (await state()).active_replica_count);
    await sleep(250);
  }
  await sleep(1000);
  const answers = await traffic.stop();
  assert.deepEqual(
    answers.filter((a) => a.status !== 200),
    [],
    'no failed request',
  );
  assert.ok(most >= 2, `scaled up under load (at most ${most} ready replicas seen)`);
  assert.ok(new Set(answers.map((a) => a.pid)).size >= 2, 'requests were spread over several replicas');

  const s = await until(
    'the deployment',
    state,
    (x) => x.status === 'SCALED_TO_ZERO' && x.active_replica_count === 0,
    30_000,
    250,
  );
  assert.deepEqual([s.status, s.active_replica_count], ['SCALED_TO_ZERO', 0]);
  const logs = await platform.cli(['logs', '--model', 'sleepy']);
  assert.match(logs.stdout, /autoscaler: 1 → [23] replicas \((scale up|queued)/);
  assert.match(logs.stdout, /autoscaler: \d → 0 replicas/);
});

test('requests sent at zero replicas all succeed', async () => {
  assert.equal((await state()).status, 'SCALED_TO_ZERO');
  const answers = await Promise.all(Array.from({ length: 5 }, () => predict()));
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 200, 200, 200, 200],
  );
  const events = await platform.api<{ events: { to: string }[] }>(
    'GET',
    `/v1/models/sleepy/deployments/${deploymentId}/events`,
  );
  assert.deepEqual(
    events.body.events.slice(-2).map((e) => e.to),
    ['WAKING_UP', 'ACTIVE'],
  );
});

test('autoscaling settings are read and changed, with the ranges checked', async () => {
  const set = await platform.cli([
    'autoscaling',
    'set',
    '--model',
    'sleepy',
    '--deployment',
    deploymentId,
    '--max-replica',
    '2',
  ]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /max_replica\s+2/);
  const bad = await platform.cli(['autoscaling', 'set', '--model', 'sleepy', '--max-replica', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /max_replica/);
  const wrong = await platform.api<{ error: { code: string; message: string } }>(
    'PATCH',
    `/v1/models/sleepy/deployments/${deploymentId}/autoscaling_settings`,
    { target_utilization_percentage: 150 },
  );
  assert.equal(wrong.status, 400);
  assert.match(wrong.body.error.message, /autoscaling_settings field "target_utilization_percentage"/);
});

test('raising min_replica brings a deployment at zero back without a request', async () => {
  const s = await until('the deployment', state, (x) => x.status === 'SCALED_TO_ZERO', 30_000, 250);
  assert.equal(s.status, 'SCALED_TO_ZERO');
  const set = await platform.cli([
    'autoscaling',
    'set',
    '--model',
    'sleepy',
    '--deployment',
    deploymentId,
    '--min-replica',
    '1',
  ]);
  assert.equal(set.code, 0, set.stderr);
  await until('the deployment', state, (x) => x.active_replica_count === 1, 30_000, 250);
  assert.deepEqual(await state(), { ...(await state()), status: 'ACTIVE', active_replica_count: 1 });
  const events = await platform.api<{ events: { to: string; reason: string }[] }>(
    'GET',
    `/v1/models/sleepy/deployments/${deploymentId}/events`,
  );
  assert.ok(events.body.events.some((e) => e.to === 'WAKING_UP' && e.reason === 'min_replica raised'));
});

test('SIGKILL of one replica under load fails no request that had not reached it', async () => {
  await pinReplicas(2);
  assert.equal((await state()).active_replica_count, 2);
  const traffic = load(4, predict);
  const answers = traffic.answers;
  await sleep(800);
  const victim = answers.find((a) => a.pid)!.pid!;
  process.kill(victim, 'SIGKILL');
  await sleep(2500);
  await traffic.stop();
  const failed = answers.filter((a) => a.status !== 200);
  // The victim held at most predict_concurrency (1) request when it died; nothing else may fail.
  assert.ok(failed.length <= 1, `failed: ${JSON.stringify(failed)}`);
  assert.ok(
    failed.every((f) => f.status === 503),
    'a request lost with its replica gets 503, never a bare 502',
  );
  assert.ok(
    answers.filter((a) => a.status === 200 && a.pid !== victim).length > 5,
    'the other replica kept serving',
  );
});

test('clients that hang up mid-request do not take a replica out of service', async () => {
  // One replica and nothing that would change the ready set behind the test's back.
  await pinReplicas(1);
  await sleep(1000);
  const hangUps = Array.from({ length: 10 }, async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await fetch(`${platform.url}/models/sleepy/production/predict`, {
      method: 'POST',
      body: '{"ms": 300}',
      signal: controller.signal,
    }).catch(() => undefined);
  });
  await Promise.all(hangUps);
  await sleep(500);
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${platform.url}/models/sleepy/production/predict`, {
      method: 'POST',
      body: '{"ms": 50}',
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 200, 'answered by a replica still in service');
    await res.text();
  }
});

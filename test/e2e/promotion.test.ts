// e2e: environments and promotion under traffic. Every request the platform accepts is answered:
// during an instant switch, a gradual ramp, a cancelled ramp, deactivation and deletion.
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
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-promo-'));
const ids: Record<string, string> = {};

function versionDir(version: string): string {
  return writeTree(join(scratch, version), {
    'config.yaml': 'model_name: versions\nruntime:\n  predict_concurrency: 8\n',
    'model/model.ts': `export class Model { predict() { return { version: '${version}' }; } }\n`,
  });
}

before(async () => {
  platform = await startPlatform();
  for (const v of ['v1', 'v2']) {
    const r = await platform.cli(['push', versionDir(v), '--deployment-name', v, '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    ids[v] = (JSON.parse(r.stdout) as { deployment_id: string }).deployment_id;
  }
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Answer {
  startedAtMs: number;
  status: number;
  version: string | null;
}

async function call(path = '/models/versions/environments/production/predict'): Promise<Answer> {
  const startedAtMs = Date.now();
  try {
    const res = await fetch(`${platform.url}${path}`, { method: 'POST', body: '{}' });
    const body = (await res.json()) as { version?: string };
    return { startedAtMs, status: res.status, version: body.version ?? null };
  } catch {
    return { startedAtMs, status: 0, version: null };
  }
}

async function deployment(id: string): Promise<{ status: string; environment: string | null }> {
  return (
    await platform.api<{ status: string; environment: string | null }>(
      'GET',
      `/v1/models/versions/deployments/${id}`,
    )
  ).body;
}

test('promoting under load fails no request, and every request after the promote returns gets v2', async () => {
  assert.equal((await call()).version, 'v1');
  const traffic = load(4, () => call());
  await sleep(300);
  const promoted = await platform.cli(['deployments', 'promote', 'v2', '--model', 'versions']);
  assert.equal(promoted.code, 0, promoted.stderr);
  const returnedAtMs = Date.now();
  await sleep(700);
  const answers = await traffic.stop();
  assert.deepEqual(
    answers.filter((a) => a.status !== 200),
    [],
    'no failed request',
  );
  assert.ok(
    answers.some((a) => a.version === 'v1') && answers.length > 50,
    `traffic ran throughout (${answers.length})`,
  );
  const late = answers.filter((a) => a.startedAtMs > returnedAtMs);
  assert.ok(late.length > 0);
  assert.deepEqual([...new Set(late.map((a) => a.version))], ['v2']);
  // Default cleanup: the previous deployment scales to zero once its requests are done.
  await until('v1 to scale to zero', async () => (await deployment(ids.v1!)).status === 'SCALED_TO_ZERO');
  const env = await platform.api<{
    promotions: { status: string; to_deployment_id: string; requested_by: string }[];
  }>('GET', '/v1/models/versions/environments/production');
  assert.deepEqual(
    { ...env.body.promotions[0] },
    { ...env.body.promotions[0], status: 'SUCCEEDED', to_deployment_id: ids.v2, requested_by: 'admin' },
  );
});

test('a ramped promotion mixes v1 and v2 with a growing share; cancelling sends all back', async () => {
  const update = await platform.cli([
    'environments',
    'update',
    'production',
    '--model',
    'versions',
    '--ramp-up',
    '8',
    '--cleanup',
    'keep',
  ]);
  assert.equal(update.code, 0, update.stderr);
  // v1 is at zero replicas: promoting wakes it; traffic moves only once it is ready.
  const started = await platform.cli([
    'environments',
    'promote',
    'production',
    'v1',
    '--model',
    'versions',
    '--no-wait',
  ]);
  assert.equal(started.code, 0, started.stderr);
  const samples: { percent: number; v1: number; failed: number; steady: boolean }[] = [];
  const percentNow = async (): Promise<number | null> => {
    const env = await platform.api<{ in_progress_promotion: { traffic_percent: number } | null }>(
      'GET',
      '/v1/models/versions/environments/production',
    );
    return env.body.in_progress_promotion?.traffic_percent ?? null;
  };
  for (;;) {
    const before = await percentNow();
    if (before === null) break;
    const batch = await Promise.all(Array.from({ length: 10 }, () => call()));
    const steady = (await percentNow()) === before; // the step did not move during the batch
    samples.push({
      percent: before,
      v1: batch.filter((a) => a.version === 'v1').length,
      failed: batch.filter((a) => a.status !== 200).length,
      steady,
    });
  }
  assert.deepEqual(
    samples.filter((s) => s.failed > 0),
    [],
    'no failed request while ramping',
  );
  const percents = [...new Set(samples.map((s) => s.percent))];
  assert.deepEqual(
    percents,
    [...percents].sort((a, b) => a - b),
    'the share only grows',
  );
  assert.ok(
    percents.filter((p) => p > 0 && p < 100).length >= 2,
    `several steps were seen: ${percents.join(', ')}`,
  );
  for (const s of samples.filter((x) => x.percent > 0 && x.steady)) {
    assert.ok(Math.abs(s.v1 - s.percent / 10) <= 1, `at ${s.percent}%, ${s.v1} of 10 requests went to v1`);
  }
  assert.deepEqual([...new Set((await Promise.all([call(), call(), call()])).map((a) => a.version))], ['v1']);

  // Now ramp back to v2, slowly enough that the cancel surely lands part-way.
  const slower = await platform.cli([
    'environments',
    'update',
    'production',
    '--model',
    'versions',
    '--ramp-up',
    '120',
  ]);
  assert.equal(slower.code, 0, slower.stderr);
  const again = await platform.cli([
    'environments',
    'promote',
    'production',
    'v2',
    '--model',
    'versions',
    '--no-wait',
  ]);
  assert.equal(again.code, 0, again.stderr);
  await until('the ramp to start moving traffic', async () => {
    const env = await platform.api<{ in_progress_promotion: { traffic_percent: number } | null }>(
      'GET',
      '/v1/models/versions/environments/production',
    );
    return (env.body.in_progress_promotion?.traffic_percent ?? 0) >= 20;
  });
  const traffic = load(2, () => call());
  const cancel = await platform.cli([
    'environments',
    'cancel-promotion',
    'production',
    '--model',
    'versions',
  ]);
  assert.equal(cancel.code, 0, cancel.stderr);
  const cancelledAtMs = Date.now();
  await sleep(500);
  const answers = await traffic.stop();
  assert.deepEqual(
    answers.filter((a) => a.status !== 200),
    [],
  );
  assert.deepEqual(
    [...new Set(answers.filter((a) => a.startedAtMs > cancelledAtMs).map((a) => a.version))],
    ['v1'],
  );
  const second = await platform.cli([
    'environments',
    'cancel-promotion',
    'production',
    '--model',
    'versions',
  ]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /has no promotion in progress/);
  const instant = await platform.cli([
    'environments',
    'update',
    'production',
    '--model',
    'versions',
    '--ramp-up',
    '0',
  ]);
  assert.equal(instant.code, 0, instant.stderr);
});

test('deactivate answers 404 DEPLOYMENT_INACTIVE until activated; delete is refused while serving', async () => {
  const path = `/models/versions/deployment/${ids.v2}/predict`;
  const off = await platform.cli(['deployments', 'deactivate', 'v2', '--model', 'versions']);
  assert.equal(off.code, 0, off.stderr);
  await until('v2 to be INACTIVE', async () => (await deployment(ids.v2!)).status === 'INACTIVE');
  const refused = await fetch(`${platform.url}${path}`, { method: 'POST', body: '{}' });
  assert.equal(refused.status, 404);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'DEPLOYMENT_INACTIVE');
  const on = await platform.cli(['deployments', 'activate', 'v2', '--model', 'versions']);
  assert.equal(on.code, 0, on.stderr);
  assert.equal((await call(path)).version, 'v2', 'answers again (the request waits for the replica)');

  const serving = await platform.cli(['deployments', 'delete', 'v1', '--model', 'versions']);
  assert.equal(serving.code, 1);
  assert.match(
    serving.stderr,
    /v1 serves the production environment; promote another deployment there first/,
  );
  const renamed = await platform.api<{ name: string }>('PATCH', `/v1/models/versions/deployments/${ids.v2}`, {
    name: 'v2-renamed',
  });
  assert.equal(renamed.body.name, 'v2-renamed');
  const deleted = await platform.cli(['deployments', 'delete', 'v2-renamed', '--model', 'versions']);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal((await call()).version, 'v1', 'production kept serving');
});

test('promoting a deployment that serves staging into production makes a new deployment; staging can be deleted', async () => {
  const created = await platform.cli(['environments', 'create', 'staging', '--model', 'versions']);
  assert.equal(created.code, 0, created.stderr);
  const v3 = await platform.cli([
    'push',
    versionDir('v3'),
    '--deployment-name',
    'v3',
    '--environment',
    'staging',
    '--output',
    'json',
  ]);
  assert.equal(v3.code, 0, v3.stderr);
  const v3Id = (JSON.parse(v3.stdout) as { deployment_id: string }).deployment_id;
  assert.equal((await call('/models/versions/environments/staging/predict')).version, 'v3');
  const promoted = await platform.cli(['deployments', 'promote', 'v3', '--model', 'versions']);
  assert.equal(promoted.code, 0, promoted.stderr);
  const production = await platform.api<{ current_deployment_id: string }>(
    'GET',
    '/v1/models/versions/environments/production',
  );
  assert.notEqual(production.body.current_deployment_id, v3Id, 'a new deployment from the same bundle');
  assert.equal((await call()).version, 'v3');
  assert.equal((await call('/models/versions/environments/staging/predict')).version, 'v3');
  const noProd = await platform.cli(['environments', 'delete', 'production', '--model', 'versions']);
  assert.equal(noProd.code, 1);
  assert.match(noProd.stderr, /production environment cannot be deleted/);
  const gone = await platform.cli(['environments', 'delete', 'staging', '--model', 'versions']);
  assert.equal(gone.code, 0, gone.stderr);
  const list = await platform.cli(['environments', 'list', '--model', 'versions']);
  assert.doesNotMatch(list.stdout, /staging/);
});

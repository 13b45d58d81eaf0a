// e2e: the server killed with SIGKILL in the middle of a push (its upload), a build, a gradual
// promotion and a scale-down, then started again on the same home: nothing of the push is stored
// and pushing again works; the build is done again and the deployment
// serves; the promotion resumes and ends with production on the new deployment; the replica kept by
// the scale-down is adopted and serves on, the draining ones are stopped, none is started again.
import { sleep } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { pushTwoVersions, startPlatform, until } from './harness.ts';
import type { Platform } from './harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-crash-'));
const home = join(scratch, 'home');
let platform: Platform;
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('SIGKILL during a build: after a restart the build runs again and the deployment serves', async () => {
  platform = await startPlatform(home);
  const dir = writeTree(join(scratch, 'pybuild'), {
    'config.yaml': 'model_name: pybuild\nrequirements:\n  - six\n',
    'model/model.py':
      'import six\n\n\nclass Model:\n    def predict(self, model_input):\n        return {"six": six.__version__}\n',
  });
  const pushed = await platform.cli(['push', dir, '--no-wait']);
  assert.equal(pushed.code, 0, pushed.stderr);
  await until(
    'the build under way',
    () => platform.api<{ status: string }>('GET', '/v1/models/pybuild/deployments/production'),
    (r) => r.body.status === 'BUILDING',
  );
  await platform.crash();
  platform = await startPlatform(home);
  const d = await until(
    'ACTIVE after the restart',
    () =>
      platform.api<{ status: string; status_reason: string }>(
        'GET',
        '/v1/models/pybuild/deployments/production',
      ),
    (r) => r.body.status === 'ACTIVE' || r.body.status.endsWith('FAILED'),
  );
  assert.equal(d.body.status, 'ACTIVE', d.body.status_reason);
  const res = await fetch(`${platform.url}/models/pybuild/production/predict`, {
    method: 'POST',
    body: '{}',
  });
  assert.equal(res.status, 200);
  assert.equal(typeof ((await res.json()) as { six: unknown }).six, 'string');
});

test('SIGKILL during a gradual promotion: after a restart it resumes and ends on the new deployment', async () => {
  await pushTwoVersions(platform, join(scratch, 'ramp'), 'ramp');
  const ramp = await platform.cli([
    'environments',
    'update',
    'production',
    '--model',
    'ramp',
    '--ramp-up',
    '6',
  ]);
  assert.equal(ramp.code, 0, ramp.stderr);
  const started = await platform.cli([
    'environments',
    'promote',
    'production',
    'deployment-2',
    '--model',
    'ramp',
    '--no-wait',
  ]);
  assert.equal(started.code, 0, started.stderr);
  const percent = () =>
    platform.api<{
      in_progress_promotion: { traffic_percent: number } | null;
      current_deployment: { name: string };
    }>('GET', '/v1/models/ramp/environments/production');
  await until(
    'traffic moving',
    percent,
    (r) => (r.body.in_progress_promotion?.traffic_percent ?? 0) >= 20,
    60_000,
  );
  await platform.crash();
  platform = await startPlatform(home);
  const done = await until(
    'the promotion finished',
    percent,
    (r) => r.body.in_progress_promotion === null,
    60_000,
  );
  assert.equal(done.body.current_deployment.name, 'deployment-2');
  const res = await fetch(`${platform.url}/models/ramp/production/predict`, { method: 'POST', body: '{}' });
  assert.deepEqual(await res.json(), { version: 2 });
  const history = await platform.api<{ promotions: { status: string }[] }>(
    'GET',
    '/v1/models/ramp/environments/production',
  );
  assert.equal(history.body.promotions?.[0]?.status ?? 'SUCCEEDED', 'SUCCEEDED');
});

test('SIGKILL during a scale-down: the kept replica is adopted and serves on, the draining ones stop, none starts again', async () => {
  const dir = writeTree(join(scratch, 'shrink'), {
    'config.yaml': 'model_name: shrink\n',
    'model/model.ts':
      'export class Model {\n  async predict(input: { ms?: number }) {\n    await new Promise((r) => setTimeout(r, input.ms ?? 0));\n    return { pid: process.pid };\n  }\n}\n',
  });
  assert.equal((await platform.cli(['push', dir])).code, 0);
  const scale = async (n: number) => {
    const r = await platform.cli(
      ['autoscaling', 'set', '--model', 'shrink', '--environment', 'production'].concat([
        '--min-replica',
        String(n),
        '--max-replica',
        String(n),
      ]),
    );
    assert.equal(r.code, 0, r.stderr);
  };
  type Replica = { id: string; status: string; pid: number | null; in_flight: number };
  const replicas = async () =>
    (await platform.api<{ replicas: Replica[] }>('GET', '/v1/models/shrink/deployments/production/replicas'))
      .body.replicas;
  const predict = (ms: number) =>
    fetch(`${platform.url}/models/shrink/production/predict`, {
      method: 'POST',
      body: JSON.stringify({ ms }),
    });

  await scale(3);
  await until('3 ready replicas', replicas, (rs) => rs.filter((r) => r.status === 'READY').length === 3);
  // Every replica busy with a long request, so that the scale-down has something to drain.
  const slow = Array.from({ length: 3 }, () => predict(20_000).catch(() => null));
  await until('a request on each replica', replicas, (rs) => rs.every((r) => r.in_flight > 0));
  await scale(1);
  const before = await until(
    'two replicas draining',
    replicas,
    (rs) => rs.filter((r) => r.status === 'DRAINING').length === 2,
  );
  await platform.crash();
  await Promise.all(slow);
  platform = await startPlatform(home);

  const kept = before.find((r) => r.status !== 'DRAINING')!;
  const draining = before.filter((r) => r.status === 'DRAINING');
  const after = await until(
    'only the kept replica',
    replicas,
    (rs) => rs.length === 1 && rs[0]!.status === 'READY',
    30_000,
  );
  assert.deepEqual([after[0]!.id, after[0]!.pid], [kept.id, kept.pid], 'the kept replica was adopted');
  await until(
    'the draining replicas ended',
    async () => draining.filter((r) => isAlive(r.pid!)),
    (alive) => alive.length === 0,
    30_000,
  );
  for (let i = 0; i < 5; i++) {
    const res = await predict(0);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { pid: kept.pid });
  }
  assert.deepEqual(
    (await replicas()).map((r) => r.id),
    [kept.id],
    'no replica was started again',
  );
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('SIGKILL during a push: half an upload leaves nothing stored, and the push is simply made again', async () => {
  const sha = 'a'.repeat(64);
  const size = 8 * 1024 ** 2;
  const models = async () =>
    (await platform.api<{ models: { name: string }[] }>('GET', '/v1/models')).body.models.map((m) => m.name);
  const known = await models();
  // Half of a large upload is sent, then the server dies while it waits for the rest.
  const upload = request(`${platform.url}/v1/bundles/${sha}`, {
    method: 'PUT',
    headers: {
      authorization: `Api-Key ${platform.apiKey}`,
      'content-type': 'application/gzip',
      'content-length': String(size),
    },
  });
  const failed = new Promise((resolve) => upload.once('error', resolve));
  upload.write(Buffer.alloc(size / 2));
  await sleep(300);
  await platform.crash();
  await failed;
  platform = await startPlatform(home);
  const head = await fetch(`${platform.url}/v1/bundles/${sha}`, {
    method: 'HEAD',
    headers: { authorization: `Api-Key ${platform.apiKey}` },
  });
  assert.equal(head.status, 404, 'no part of the upload is stored');
  assert.deepEqual(
    readdirSync(join(home, 'bundles')).filter((n) => n.includes('.tmp-')),
    [],
    'no half-written file is left',
  );
  assert.deepEqual(await models(), known, 'no model or deployment came of it');
  const dir = writeTree(join(scratch, 'again'), {
    'config.yaml': 'model_name: again\n',
    'model/model.ts': 'export class Model { predict() { return { again: true }; } }\n',
  });
  const pushed = await platform.cli(['push', dir]);
  assert.equal(pushed.code, 0, pushed.stderr);
  const res = await fetch(`${platform.url}/models/again/production/predict`, { method: 'POST', body: '{}' });
  assert.deepEqual(await res.json(), { again: true });
});

// e2e: instance types on the real server with a pretend GPU (`--capacity gpu=L4:1`): a second GPU
// deployment waits with the reason until the first is deactivated, then sees its own
// CUDA_VISIBLE_DEVICES; a model that allocates beyond its memory is stopped with an
// out-of-memory reason; changing the instance type under load fails no request.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { load, startPlatform, until } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-types-'));
const SHOW_GPUS = `export class Model {
  predict() {
    return { cuda: process.env.CUDA_VISIBLE_DEVICES, pid: process.pid };
  }
}\n`;

before(async () => {
  const home = writeTree(join(scratch, 'home'), {
    'instance_types.yaml': 'instance_types:\n  - name: tiny\n    cpu: 500m\n    memory: 128Mi\n',
  });
  platform = await startPlatform(home, ['--capacity', 'cpu=8,memory=64Gi,gpu=L4:1']);
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface DeploymentView {
  id: string;
  status: string;
  status_reason: string | null;
  instance_type_name: string;
  active_replica_count: number;
}

function model(name: string, resources: string, source = SHOW_GPUS): string {
  return writeTree(join(scratch, name), {
    'config.yaml': `model_name: ${name}\n${resources}`,
    'model/model.ts': source,
  });
}

async function production(name: string): Promise<DeploymentView> {
  return (await platform.api<DeploymentView>('GET', `/v1/models/${name}/deployments/production`)).body;
}

async function predict(name: string): Promise<{ status: number; body: { cuda?: string; pid?: number } }> {
  try {
    const res = await fetch(`${platform.url}/models/${name}/production/predict`, {
      method: 'POST',
      body: '{}',
    });
    return { status: res.status, body: (await res.json()) as { cuda?: string; pid?: number } };
  } catch {
    return { status: 0, body: {} };
  }
}

test('plinth up says what it places replicas on and what it enforces; the catalog lists the types', async () => {
  await until(
    'the start-up lines',
    async () => platform.output(),
    (out) => /Enforced: /.test(out),
    10_000,
  );
  assert.match(platform.output(), /Capacity: 8 CPUs \(shared\), 64Gi memory, 1× L4/);
  assert.match(platform.output(), /Enforced: memory by .*; CPU by .*; GPUs assigned exclusively/);
  const list = await platform.cli(['instance-types']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^1x2\s+1\s+2Gi\s+-/m);
  assert.match(list.stdout, /^H100x8:208x1872\s+208\s+1872Gi\s+H100:8\s+640Gi/m);
  assert.match(list.stdout, /^A100_40GB:12x85\s+12\s+85Gi\s+A100_40GB:1\s+40Gi\s+3\.00/m);
  const { body } = await platform.api<{ instance_types: Record<string, unknown>[] }>(
    'GET',
    '/v1/instance_types',
  );
  assert.deepEqual(
    body.instance_types.find((t) => t.name === 'L40S:8x64'),
    {
      name: 'L40S:8x64',
      cpu: '8',
      memory: '64Gi',
      memory_bytes: 64 * 1024 ** 3,
      accelerator: 'L40S:1',
      gpu_count: 1,
      gpu_type: 'L40S',
      gpu_memory_limit_mib: 48 * 1024,
      millicpu_limit: 8000,
      memory_limit_mib: 64 * 1024,
      price_per_hour: 1.8,
    },
    "the hosted platforms' field names beside ours",
  );
  assert.match(list.stdout, /^tiny\s+500m\s+128Mi\s+-/m, "the home's file adds its types");
});

test('a request no instance type satisfies is an error at push', async () => {
  const r = await platform.cli(['push', model('nogpu', 'resources:\n  accelerator: MI300X\n')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config\.yaml resources: no instance type has a MI300X/);
});

test('a second GPU deployment waits with the reason until the first is deactivated, then sees its own GPU', async () => {
  const a = await platform.cli(['push', model('gpu-a', 'resources:\n  accelerator: L4\n')]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal((await production('gpu-a')).instance_type_name, 'L4:4x16');
  assert.equal((await predict('gpu-a')).body.cuda, '0');

  const b = await platform.cli(['push', model('gpu-b', 'resources:\n  accelerator: L4\n'), '--no-wait']);
  assert.equal(b.code, 0, b.stderr);
  const waiting = await until(
    'gpu-b waiting for the GPU',
    () => production('gpu-b'),
    (d) => /needs 1× L4, 0 of 1 free/.test(d.status_reason ?? ''),
  );
  assert.equal(waiting.active_replica_count, 0);
  const shown = await platform.cli(['deployments', 'get', 'production', '--model', 'gpu-b']);
  assert.match(shown.stdout, /waiting for capacity: needs 1× L4, 0 of 1 free/, 'the events say it');

  const off = await platform.cli(['deployments', 'deactivate', 'production', '--model', 'gpu-a']);
  assert.equal(off.code, 0, off.stderr);
  await until(
    'gpu-b ACTIVE',
    () => production('gpu-b'),
    (d) => d.status === 'ACTIVE',
  );
  assert.equal((await predict('gpu-b')).body.cuda, '0', 'it got the GPU the first one gave back');
});

test('a model that allocates beyond its memory is stopped with an out-of-memory reason', async () => {
  const hog = `export class Model {
  async load() {
    (globalThis as { hog?: Buffer }).hog = Buffer.alloc(300 * 1024 * 1024, 1);
    await new Promise((r) => setTimeout(r, 5000));
  }
  predict() {
    return {};
  }
}\n`;
  const r = await platform.cli(['push', model('hog', 'resources:\n  instance_type: tiny\n', hog)]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /DEPLOY_FAILED: 3 failed starts in a row; last: out of memory: the replica used \S+, more than its instance type's 128Mi/,
  );
  const logs = await platform.cli(['logs', '--model', 'hog', '--level', 'error']);
  assert.match(logs.stdout, /failed: out of memory/);
});

test("changing a deployment's instance type under load replaces its replicas one by one with no failed request", async () => {
  const push = await platform.cli(['push', model('resize', '')]);
  assert.equal(push.code, 0, push.stderr);
  const set = await platform.cli([
    'autoscaling',
    'set',
    '--model',
    'resize',
    '--min-replica',
    '2',
    '--max-replica',
    '2',
  ]);
  assert.equal(set.code, 0, set.stderr);
  await until(
    'two replicas',
    () => production('resize'),
    (d) => d.active_replica_count === 2,
  );
  const before = new Set((await load(2, () => predict('resize')).stop()).map((a) => a.body.pid));

  const traffic = load(3, () => predict('resize'));
  const update = await platform.cli([
    'deployments',
    'update',
    'production',
    '--model',
    'resize',
    '--instance-type',
    '1x4',
  ]);
  assert.equal(update.code, 0, update.stderr);
  assert.match(update.stdout, /runs on 1x4/);
  const d = await production('resize');
  const replicas = () =>
    platform
      .api<{ replicas: { status: string; instance_type: string | null }[] }>(
        'GET',
        `/v1/models/resize/deployments/${d.id}/replicas`,
      )
      .then((r) =>
        r.body.replicas.filter(
          (x) => x.status === 'READY' || x.status === 'STARTING' || x.status === 'DRAINING',
        ),
      );
  await until(
    'replicas replaced',
    replicas,
    (live) => live.length === 2 && live.every((x) => x.status === 'READY' && x.instance_type === '1x4'),
  );
  await new Promise((r) => setTimeout(r, 500));
  const answers = await traffic.stop();
  assert.deepEqual(
    answers.filter((a) => a.status !== 200),
    [],
    'no failed request',
  );
  const after = new Set(answers.slice(-10).map((a) => a.body.pid));
  assert.ok(
    [...after].every((pid) => !before.has(pid)),
    'the last answers came from new replicas',
  );

  const bad = await platform.cli([
    'deployments',
    'update',
    'production',
    '--model',
    'resize',
    '--instance-type',
    'huge',
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /instance_type_name: "huge" is not a known instance type/);
});

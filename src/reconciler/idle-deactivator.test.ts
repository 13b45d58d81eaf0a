// The inactivity loop over a real SQLite store and the real lifecycle: exactly the deployments
// quiet for the period are deactivated (DEACTIVATING, the reason in their event, a platform log
// line); one called lately (stored, or only in this process's memory), one serving a request now,
// one in a promotion in progress, one still building and one activated lately are left as they are.
import { promotionRecord } from '../../test/support/promotion-record.ts';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { ScriptedBackend } from '../../test/support/scripted-backend.ts';
import { ArtifactStore } from '../bundle/artifact-store.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import { BUILT_IN_INSTANCE_TYPES } from '../domain/instance-types.ts';
import type { Deployment } from '../domain/types.ts';
import { plinthHome } from '../home.ts';
import { LogSink } from '../observability/log-sink.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { StatusRecorder } from '../store/status-recorder.ts';
import { IdleDeactivator } from './idle-deactivator.ts';
import { Lifecycle } from './lifecycle.ts';
import { ReplicaStopper } from './replica-stopper.ts';

const root = scratchDir('idle');

async function platform() {
  const store = await openSqliteStore(':memory:');
  const status = new StatusRecorder(store);
  const home = plinthHome(mkdtempSync(join(root, 'home-')));
  const lifecycle = new Lifecycle({
    store,
    artifacts: new ArtifactStore(home.bundles),
    home,
    stopper: new ReplicaStopper({
      backend: new ScriptedBackend(),
      drainer: { drained: async () => {} },
      drainMs: 0,
    }),
    status,
    kick: () => {},
    resetFailures: () => {},
    instanceTypes: BUILT_IN_INSTANCE_TYPES,
  });
  const model = await store.createModel('idle');
  /** A deployment walked through the table to `path`'s last status. */
  const at = async (name: string, ...path: DeploymentStatus[]): Promise<Deployment> => {
    let d = await store.createDeployment(deploymentInput(model.id, { name }));
    for (const to of path) {
      const outcome = await status.move(d, to, `to ${to}`);
      assert.ok(outcome.moved);
      d = outcome.deployment;
    }
    return d;
  };
  return { store, lifecycle, model, at };
}

test('exactly the deployments idle for the period are deactivated, with the reason and a log line', async () => {
  const { store, lifecycle, model, at } = await platform();
  const quiet = await at('quiet', 'DEPLOYING', 'ACTIVE');
  const atZero = await at('at-zero', 'DEPLOYING', 'ACTIVE', 'SCALED_TO_ZERO');
  const called = await at('called', 'DEPLOYING', 'ACTIVE');
  const calledHere = await at('called-here', 'DEPLOYING', 'ACTIVE');
  const streaming = await at('streaming', 'DEPLOYING', 'ACTIVE');
  const candidate = await at('candidate', 'DEPLOYING', 'ACTIVE');
  const building = await at('building');

  // Two minutes on; the period is one.
  const nowMs = Date.now() + 120_000;
  await store.recordTraffic([{ deployment_id: called.id, last_request_ms: nowMs - 30_000 }]);
  const env = (await store.getEnvironment(model.id, 'production'))!;
  await store.createPromotion(
    promotionRecord({ model_id: model.id, environment_id: env.id, to_deployment_id: candidate.id }),
  );
  const logs = new LogSink(store);
  const loop = new IdleDeactivator({
    store,
    lifecycle,
    logs,
    idleS: 60,
    recentRequest: (id) => (id === calledHere.id ? nowMs - 1000 : undefined),
    concurrency: (id) => (id === streaming.id ? 1 : 0),
    clock: () => nowMs,
  });

  assert.deepEqual((await loop.pass()).sort(), [quiet.id, atZero.id].sort());
  await logs.flush();
  for (const d of [quiet, atZero]) {
    const stored = (await store.getDeployment(d.id))!;
    assert.equal(stored.status, 'DEACTIVATING');
    assert.equal(stored.desired_replicas, 0);
    const last = (await store.listEvents(d.id)).at(-1)!;
    assert.deepEqual([last.to_status, last.reason], ['DEACTIVATING', 'no traffic for 1m']);
    const lines = (await store.queryLogs({ deployment_id: d.id })).map((l) => [l.source, l.message]);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]![0], 'platform');
    assert.match(lines[0]![1]!, /^deactivated: no traffic for 1m \(quiet for 12\d s\)/);
  }
  for (const d of [called, calledHere, streaming, candidate])
    assert.equal((await store.getDeployment(d.id))!.status, 'ACTIVE');
  assert.equal((await store.getDeployment(building.id))!.status, 'BUILDING');
  assert.deepEqual(await loop.pass(), [], 'nothing more to do');
  await store.close();
});

test('a deployment activated again after a long quiet gets the whole period before it is deactivated again', async () => {
  const { store, lifecycle, model, at } = await platform();
  const d = await at('again', 'DEPLOYING', 'ACTIVE');
  const t = Date.now();
  await store.recordTraffic([{ deployment_id: d.id, last_request_ms: t - 3_600_000 }]);
  // Deactivated, then activated again 100 s after it was created.
  for (const [from, to] of [
    ['ACTIVE', 'DEACTIVATING'],
    ['DEACTIVATING', 'INACTIVE'],
    ['INACTIVE', 'DEPLOYING'],
    ['DEPLOYING', 'ACTIVE'],
  ] as const) {
    await store.recordEvent({
      model_id: model.id,
      deployment_id: d.id,
      time: new Date(t + 100_000).toISOString(),
      from_status: from,
      to_status: to,
      reason: to,
    });
  }
  const loop = (nowMs: number) =>
    new IdleDeactivator({ store, lifecycle, logs: { write: () => {} }, idleS: 60, clock: () => nowMs });
  assert.deepEqual(await loop(t + 150_000).pass(), [], 'activated 50 s ago');
  assert.deepEqual(await loop(t + 161_000).pass(), [d.id], 'activated 61 s ago');
  await store.close();
});

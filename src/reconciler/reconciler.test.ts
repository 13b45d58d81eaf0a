// The reconciler over a real SQLite store and a scripted backend: what it keeps per deployment
// (failed starts, waits for capacity) leaves with the deployment.
import { deploymentInput } from '../../test/support/deployment-input.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { ScriptedBackend } from '../../test/support/scripted-backend.ts';
import { until } from '../../test/support/wait.ts';
import { BUILT_IN_INSTANCE_TYPES } from '../domain/instance-types.ts';
import { plinthHome } from '../home.ts';
import { LogSink } from '../observability/log-sink.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { StatusRecorder } from '../store/status-recorder.ts';
import { Reconciler } from './reconciler.ts';
import { ReplicaStopper } from './replica-stopper.ts';

/** A reconciler that reads deployments through `reads` (the store, or a spy over it). */
function reconcilerOn(
  reads: ConstructorParameters<typeof Reconciler>[0]['store'],
  store: Awaited<ReturnType<typeof openSqliteStore>>,
  backend: ScriptedBackend,
): Reconciler {
  return new Reconciler({
    store: reads,
    backend,
    home: plinthHome(scratchDir('reconciler')),
    status: new StatusRecorder(store),
    logs: new LogSink(store),
    stopper: new ReplicaStopper({ backend, drainer: { drained: async () => {} }, drainMs: 0 }),
    instanceTypes: BUILT_IN_INSTANCE_TYPES,
    secrets: () => ({ values: {}, missing: [] }),
    clock: new FakeClock(),
  });
}

test("a deleted deployment's failure history leaves with it", async () => {
  const store = await openSqliteStore(':memory:');
  const backend = new ScriptedBackend();
  const reconciler = reconcilerOn(store, store, backend);
  const model = await store.createModel('m');
  const d = await store.createDeployment(deploymentInput(model.id));
  await reconciler.start(1000);
  const handle = {
    id: 'r1',
    deploymentId: d.id,
    phase: 'FAILED' as const,
    address: null,
    startedAtMs: 0,
    readyAtMs: null,
    exit: null,
    instanceType: '1x2',
    gpus: [],
    revision: 0,
  };
  const exit = { code: 1, signal: null, expected: false, reason: 'load() raised', wasReady: false };
  backend.emit({ type: 'exited', replica: { ...handle, exit }, exit });
  await until(
    'the failure recorded',
    () => reconciler.bookkeeping().failures,
    (n) => n === 1,
    5000,
    10,
  );
  await store.deleteDeployment(d.id);
  await reconciler.kick();
  assert.deepEqual(reconciler.bookkeeping(), { failures: 0, pending: 0 });
  await reconciler.stop();
  await store.close();
});

test('a pass reads only deployments that are awake or still have replicas; a resting one is left alone', async () => {
  const store = await openSqliteStore(':memory:');
  const stopped: string[] = [];
  const backend = new (class extends ScriptedBackend {
    override async stop(id: string): Promise<void> {
      stopped.push(id);
    }
  })();
  const read: string[] = [];
  const reading = {
    ...store,
    listDeployments: async (filter?: Parameters<typeof store.listDeployments>[0]) => {
      const found = await store.listDeployments(filter);
      read.push(...found.map((d) => d.name));
      return found;
    },
  };
  const reconciler = reconcilerOn(reading, store, backend);
  const model = await store.createModel('m');
  const make = async (name: string, status: 'ACTIVE' | 'SCALED_TO_ZERO', desired: number) => {
    const d = await store.createDeployment(deploymentInput(model.id, { name, status }));
    await store.updateDeployment(d.id, { desired_replicas: desired });
    return d;
  };
  const live = await make('live', 'ACTIVE', 1);
  const draining = await make('draining', 'SCALED_TO_ZERO', 0);
  await make('idle-1', 'SCALED_TO_ZERO', 0);
  await make('idle-2', 'SCALED_TO_ZERO', 0);
  backend.ready.set(live.id, 1);
  // Taken to zero while its replica still ran; and a replica of a deployment that is gone.
  backend.ready.set(draining.id, 1);
  backend.ready.set('dgone', 1);
  await reconciler.start(1000);
  await until(
    'both stopped',
    () => stopped.length,
    (n) => n === 2,
    5000,
    10,
  );
  assert.deepEqual([...new Set(read)].sort(), ['draining', 'live'], 'the idle ones are never read');
  assert.deepEqual(
    stopped.sort(),
    [`${draining.id}-r0`, 'dgone-r0'].sort(),
    "the resting deployment's replica and the orphan; not the live one",
  );
  await reconciler.stop();
  await store.close();
});

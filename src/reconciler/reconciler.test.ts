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

test("a deleted deployment's failure history leaves with it", async () => {
  const store = await openSqliteStore(':memory:');
  const backend = new ScriptedBackend();
  const reconciler = new Reconciler({
    store,
    backend,
    home: plinthHome(scratchDir('reconciler')),
    status: new StatusRecorder(store),
    logs: new LogSink(store),
    stopper: new ReplicaStopper({ backend, drainer: { drained: async () => {} }, drainMs: 0 }),
    instanceTypes: BUILT_IN_INSTANCE_TYPES,
    secrets: () => ({ values: {}, missing: [] }),
    clock: new FakeClock(),
  });
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

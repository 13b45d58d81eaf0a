// The autoscaler's driver over a real SQLite store that goes away for a while: its ticks fail,
// are logged and counted, and the process lives on; once the store is back, it scales again.
import { deploymentInput } from '../../test/support/deployment-input.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { failingStore, unhandledDuring } from '../../test/support/failing-store.ts';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import { LoopHealth } from '../domain/control-loop.ts';
import { LogSink } from '../observability/log-sink.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { Autoscaler } from './driver.ts';

test('a store outage fails ticks without ending the process; they are counted and the loop goes on', async () => {
  const inner = await openSqliteStore(':memory:');
  const failing = failingStore(inner);
  const clock = new FakeClock();
  const health = new LoopHealth();
  const scaledToZero: string[] = [];
  const autoscaler = new Autoscaler({
    store: failing.store,
    lifecycle: { scaleToZero: async (d) => void scaledToZero.push(d.id) },
    logs: new LogSink(inner),
    concurrency: () => 0,
    kick: () => {},
    clock,
    health,
  });
  const unhandled = await unhandledDuring(async () => {
    autoscaler.start(1000);
    failing.down = true;
    await clock.advance(5000);
    failing.down = false;
    await clock.advance(20_000);
    await autoscaler.stop();
  });
  assert.deepEqual(unhandled, [], 'no tick became an unhandled rejection');
  assert.ok((health.failures.get('autoscaler') ?? 0) >= 2, 'the failed ticks are counted');
  assert.equal(health.failing.get('autoscaler'), 0, 'and it works again');
  await inner.close();
});

test('what the autoscaler keeps for a deployment goes when the deployment goes', async () => {
  const store = await openSqliteStore(':memory:');
  const model = await store.createModel('m');
  const ids: string[] = [];
  for (const name of ['deployment-1', 'deployment-2']) {
    const d = await store.createDeployment(
      deploymentInput(model.id, { name, autoscaling_settings: { ...DEFAULT_AUTOSCALING, max_replica: 3 } }),
    );
    await store.transition(d.id, {
      from: 'BUILDING',
      to: 'DEPLOYING',
      reason: 'built',
      patch: { desired_replicas: 1 },
    });
    await store.transition(d.id, { from: 'DEPLOYING', to: 'ACTIVE', reason: 'ready' });
    ids.push(d.id);
  }
  const autoscaler = new Autoscaler({
    store,
    lifecycle: { scaleToZero: async () => {} },
    logs: new LogSink(store),
    concurrency: () => 1,
    kick: () => {},
    clock: new FakeClock(),
  });
  await autoscaler.tick();
  assert.deepEqual(autoscaler.bookkeeping(), { states: 2, windows: 2 });
  await store.deleteDeployment(ids[0]!);
  await store.transition(ids[1]!, { from: 'ACTIVE', to: 'DEACTIVATING', reason: 'deactivated' });
  await store.transition(ids[1]!, { from: 'DEACTIVATING', to: 'INACTIVE', reason: 'every replica stopped' });
  await autoscaler.tick();
  assert.deepEqual(
    autoscaler.bookkeeping(),
    { states: 0, windows: 0 },
    'deleted, and inactive: nothing kept',
  );
  await store.close();
});

test("a deployment's concurrency samples are kept for its own autoscaling window, not the longest one; none at zero", async () => {
  const store = await openSqliteStore(':memory:');
  const model = await store.createModel('m');
  const ids: string[] = [];
  for (const [name, window] of [
    ['deployment-1', 60],
    ['deployment-2', 600],
  ] as const) {
    const d = await store.createDeployment(
      deploymentInput(model.id, {
        name,
        status: 'ACTIVE',
        autoscaling_settings: { ...DEFAULT_AUTOSCALING, autoscaling_window: window },
      }),
    );
    await store.updateDeployment(d.id, { desired_replicas: 1 });
    ids.push(d.id);
  }
  // At zero: not read, nothing kept.
  const resting = await store.createDeployment(
    deploymentInput(model.id, { name: 'deployment-3', status: 'SCALED_TO_ZERO' }),
  );
  const clock = new FakeClock();
  const autoscaler = new Autoscaler({
    store,
    lifecycle: { scaleToZero: async () => {} },
    logs: new LogSink(store),
    concurrency: () => 1,
    kick: () => {},
    clock,
  });
  for (let s = 0; s < 900; s++) {
    await clock.advance(1000);
    await autoscaler.tick();
  }
  assert.equal(autoscaler.windows.of(ids[0]!).length, 60, 'a minute of samples at one a second');
  assert.equal(autoscaler.windows.of(ids[1]!).length, 600);
  assert.equal(autoscaler.windows.sampleCount, 660, 'not 900 each');
  assert.equal(autoscaler.windows.of(resting.id).length, 0);
  await store.close();
});

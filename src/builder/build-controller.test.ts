// The build loop over a real SQLite store that goes away for a while: its passes fail, are logged
// and counted, and the process lives on; a kick (a push arriving) never rejects either.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { failingStore, unhandledDuring } from '../../test/support/failing-store.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { LoopHealth } from '../domain/control-loop.ts';
import { plinthHome } from '../home.ts';
import { LogSink } from '../observability/log-sink.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { StatusRecorder } from '../store/status-recorder.ts';
import { BuildController } from './build-controller.ts';

test('a store outage fails build passes without ending the process; they are counted and retried', async () => {
  const inner = await openSqliteStore(':memory:');
  const failing = failingStore(inner);
  const clock = new FakeClock();
  const health = new LoopHealth();
  const builds = new BuildController({
    store: failing.store,
    home: plinthHome(scratchDir('build-loop')),
    status: new StatusRecorder(inner),
    logs: new LogSink(inner),
    onBuilt: () => {},
    clock,
    health,
  });
  const unhandled = await unhandledDuring(async () => {
    failing.down = true;
    builds.start(1000);
    builds.kick();
    await clock.advance(5000);
    failing.down = false;
    await clock.advance(20_000);
    await builds.stop();
  });
  assert.deepEqual(unhandled, []);
  assert.ok((health.failures.get('builder') ?? 0) >= 2);
  assert.equal(health.failing.get('builder'), 0);
  await inner.close();
});

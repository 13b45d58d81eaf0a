// Live reload's awake leases: a running watch keeps its development deployment awake; a lease no
// watch renews, or of a deployment that went, is not kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { ScriptedBackend } from '../../test/support/scripted-backend.ts';
import { ArtifactStore } from '../bundle/artifact-store.ts';
import { plinthHome } from '../home.ts';
import { LogSink } from '../observability/log-sink.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { StatusRecorder } from '../store/status-recorder.ts';
import { DevelopmentController } from './development.ts';

test('awake leases expire unless renewed, and leave with their deployment', async () => {
  const store = await openSqliteStore(':memory:');
  const home = plinthHome(scratchDir('dev-awake'));
  const clock = new FakeClock();
  const development = new DevelopmentController({
    store,
    artifacts: new ArtifactStore(home.bundles),
    home,
    backend: new ScriptedBackend(),
    status: new StatusRecorder(store),
    logs: new LogSink(store),
    reconciler: { kick: () => {}, onPending: () => () => {} },
    clock,
  });
  development.keepAwake('d-1', 60);
  development.keepAwake('d-2', 60);
  assert.equal(development.isKeptAwake('d-1'), true);
  await clock.advance(61_000);
  assert.equal(development.isKeptAwake('d-1'), false, 'not renewed: it lapses');
  development.keepAwake('d-3', 60);
  assert.deepEqual(development.awakeLeases(), ['d-3'], 'lapsed leases are not kept');
  development.forget('d-3');
  assert.deepEqual(development.awakeLeases(), []);
  await store.close();
});

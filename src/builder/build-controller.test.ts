// The build loop over a real SQLite store that goes away for a while: its passes fail, are logged
// and counted, and the process lives on; a kick (a push arriving) never rejects either.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { failingStore, unhandledDuring } from '../../test/support/failing-store.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { emptyDisk, fillDisk, mountSmallDisk, unmount } from '../../test/support/small-disk.ts';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { sleep, until } from '../../test/support/wait.ts';
import { parseConfig } from '../config/parse.ts';
import { LoopHealth } from '../domain/control-loop.ts';
import { plinthHome } from '../home.ts';
import { LogSink } from '../observability/log-sink.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { StatusRecorder } from '../store/status-recorder.ts';
import { BuildController } from './build-controller.ts';
import { currentBuild } from './build-record.ts';

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

test('a deployment deactivated during its build keeps the build, for when it is activated', async () => {
  const store = await openSqliteStore(':memory:');
  const status = new StatusRecorder(store);
  const home = plinthHome(scratchDir('build-deactivated'));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // The build's log flush waits on the gate: the deactivate lands while the build finishes.
  const logs = new LogSink({ appendLogs: async (r) => (await gate, store.appendLogs(r)) });
  const model = await store.createModel('m');
  const d = await store.createDeployment(
    deploymentInput(model.id, { config: parseConfig('').config as unknown as Record<string, unknown> }),
  );
  mkdirSync(join(home.appDir(d.id), 'model'), { recursive: true });
  writeFileSync(
    join(home.appDir(d.id), 'model', 'model.mjs'),
    'export class Model { predict() { return 1; } }',
  );
  let built = 0;
  const builds = new BuildController({ store, home, status, logs, onBuilt: () => void built++ });
  await builds.pass();
  await status.move(d, 'DEACTIVATING', 'deactivated', { desired_replicas: 0 });
  release();
  await until(
    'the build ended',
    () => built,
    (n) => n > 0,
    30_000,
    20,
  );
  const after = (await store.getDeployment(d.id))!;
  assert.equal(after.status, 'DEACTIVATING', 'the build did not move it on');
  assert.equal(currentBuild(after, home)?.language, 'typescript', 'but its build is kept');
  await store.close();
});

test('a build that cannot record its end (the store fails) neither ends the process nor fails the deployment: a later pass builds it again', async () => {
  const store = await openSqliteStore(':memory:');
  const failing = failingStore(store);
  const home = plinthHome(scratchDir('build-unrecorded'));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // The build's log flush waits on the gate: the store goes away while the build finishes.
  const logs = new LogSink({ appendLogs: async (r) => (await gate, store.appendLogs(r)) });
  const model = await store.createModel('m');
  const d = await store.createDeployment(
    deploymentInput(model.id, { config: parseConfig('').config as unknown as Record<string, unknown> }),
  );
  mkdirSync(join(home.appDir(d.id), 'model'), { recursive: true });
  writeFileSync(
    join(home.appDir(d.id), 'model', 'model.mjs'),
    'export class Model { predict() { return 1; } }',
  );
  let built = 0;
  const status = new StatusRecorder(failing.store);
  const builds = new BuildController({ store, home, status, logs, onBuilt: () => void built++ });
  const unhandled = await unhandledDuring(async () => {
    await builds.pass();
    failing.down = true; // a full disk, an unreachable database
    release();
    await sleep(500);
    assert.equal((await store.getDeployment(d.id))!.status, 'BUILDING', 'a build that worked is not failed');
    failing.down = false;
    await builds.pass();
    await until(
      'built and recorded',
      () => built,
      (n) => n > 0,
      30_000,
      20,
    );
  });
  assert.deepEqual(unhandled, [], 'nothing left unhandled (it would end plinth up)');
  assert.equal((await store.getDeployment(d.id))!.status, 'DEPLOYING');
  await store.close();
});

test('a build that meets a full disk is not a failed build: the deployment stays BUILDING and is built once there is room', async (t) => {
  const root = scratchDir('build-full-disk');
  const disk = join(root, 'home');
  mkdirSync(disk, { recursive: true });
  const why = await mountSmallDisk(disk, 4);
  if (why) return t.skip(why);
  try {
    const store = await openSqliteStore(':memory:');
    const home = plinthHome(disk);
    const model = await store.createModel('m');
    const d = await store.createDeployment(
      deploymentInput(model.id, { config: parseConfig('').config as unknown as Record<string, unknown> }),
    );
    mkdirSync(join(home.appDir(d.id), 'model'), { recursive: true });
    writeFileSync(
      join(home.appDir(d.id), 'model', 'model.ts'),
      'export class Model { predict() { return 1; } }',
    );
    fillDisk(disk);
    let built = 0;
    const builds = new BuildController({
      store,
      home,
      status: new StatusRecorder(store),
      logs: new LogSink(store),
      onBuilt: () => void built++,
    });
    await builds.pass();
    await until(
      'the build attempt ended',
      async () => (await store.queryLogs({ deployment_id: d.id, search: 'disk is full' })).length,
      (n) => n > 0,
      30_000,
      50,
    );
    await sleep(500);
    assert.equal((await store.getDeployment(d.id))!.status, 'BUILDING', 'not BUILD_FAILED');
    emptyDisk(disk);
    await until(
      'built once there is room',
      async () => (await builds.pass(), built),
      (n) => n > 0,
      30_000,
      200,
    );
    assert.equal((await store.getDeployment(d.id))!.status, 'DEPLOYING');
    await store.close();
  } finally {
    await unmount(disk);
  }
});

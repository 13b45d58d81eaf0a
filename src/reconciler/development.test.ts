// Live reload's awake leases: a running watch keeps its development deployment awake; a lease no
// watch renews, or of a deployment that went, is not kept.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { ScriptedBackend } from '../../test/support/scripted-backend.ts';
import { until } from '../../test/support/wait.ts';
import { ArtifactStore } from '../bundle/artifact-store.ts';
import { packDirectory } from '../bundle/pack.ts';
import { parseConfig } from '../config/parse.ts';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import type { Deployment } from '../domain/types.ts';
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

/** A development deployment serving `source` (revision 0), and what a patch needs around it. */
async function devRig(prefix: string) {
  const root = scratchDir(prefix);
  const store = await openSqliteStore(':memory:');
  const status = new StatusRecorder(store);
  const home = plinthHome(join(root, 'home'));
  for (const dir of [home.root, home.bundles, home.environments, home.deployments])
    mkdirSync(dir, { recursive: true });
  const artifacts = new ArtifactStore(home.bundles);
  const logs = new LogSink(store);
  const backend = new ScriptedBackend();
  const bundle = async (name: string, source: string, config = ''): Promise<string> => {
    const dir = join(root, name);
    mkdirSync(join(dir, 'model'), { recursive: true });
    writeFileSync(join(dir, 'model', 'model.mjs'), source);
    if (config) writeFileSync(join(dir, 'config.yaml'), config);
    const packed = await packDirectory(dir);
    artifacts.put(packed.sha256, packed.bytes);
    return packed.sha256;
  };
  const model = await store.createModel('m');
  const created = await store.createDeployment({
    model_id: model.id,
    name: 'development',
    status: 'BUILDING',
    is_development: true,
    bundle_sha256: await bundle('v1', 'export class Model { predict() { return 1; } }'),
    config: parseConfig('').config as unknown as Record<string, unknown>,
    instance_type_name: '1x2',
    autoscaling_settings: { ...DEFAULT_AUTOSCALING },
  });
  await store.transition(created.id, {
    from: 'BUILDING',
    to: 'DEPLOYING',
    reason: 'built',
    patch: { desired_replicas: 1 },
  });
  const d = (await store.transition(created.id, { from: 'DEPLOYING', to: 'ACTIVE', reason: 'ready' })) as {
    moved: true;
    deployment: Deployment;
  };
  backend.ready.set(created.id, 1);
  return { store, status, home, artifacts, logs, backend, bundle, d: d.deployment };
}

test('a patch whose revision another change moved on reports it and keeps the directory that runs', async () => {
  const r = await devRig('dev-moved-on');
  const development = new DevelopmentController({
    ...{
      store: r.store,
      artifacts: r.artifacts,
      home: r.home,
      backend: r.backend,
      status: r.status,
      logs: r.logs,
    },
    reconciler: { kick: () => {}, onPending: () => () => {} },
  });
  const v2 = await r.bundle('v2', 'export class Model { predict() { return 2; } }');
  const patched = development.replace(r.d, v2);
  await until(
    'the revision bumped',
    async () => (await r.store.getDeployment(r.d.id))!.revision,
    (n) => n === 1,
    30_000,
    20,
  );
  // Another writer moves the revision on (as an instance-type change would, were it allowed now).
  assert.ok((await r.store.revise(r.d.id, { from: 1, to: 2, patch: { instance_type_name: '2x4' } })).revised);
  // The reconciler stops the revision-1 replica, now outdated, before it was ready.
  const exit = {
    code: null,
    signal: null,
    expected: true,
    reason: 'stopped by the platform',
    wasReady: false,
  };
  const replica = {
    ...r.backend.list(r.d.id)[0]!,
    id: 'r-new',
    revision: 1,
    phase: 'STOPPED' as const,
    exit,
  };
  r.backend.emit({ type: 'exited', replica, exit });
  await assert.rejects(patched, /did not load/);
  const after = (await r.store.getDeployment(r.d.id))!;
  assert.equal(after.revision, 2, 'not reverted: it moved on');
  assert.ok(existsSync(after.build!.appDir), 'the directory revision 2 runs is still there');
  await r.logs.flush();
  await r.store.close();
});

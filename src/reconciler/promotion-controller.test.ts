// The promotion controller stepped through a fake clock over a real SQLite store, with an
// in-memory runtime backend whose ready replicas the test decides.
import { scratchDir } from '../../test/support/scratch.ts';
import { sleep } from '../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, test } from 'node:test';
import { ArtifactStore } from '../bundle/artifact-store.ts';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import { PlinthError } from '../domain/errors.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import type { Deployment, Model } from '../domain/types.ts';
import { plinthHome } from '../home.ts';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { failingStore, unhandledDuring } from '../../test/support/failing-store.ts';
import { LoopHealth } from '../domain/control-loop.ts';
import { ScriptedBackend } from '../../test/support/scripted-backend.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { StatusRecorder } from '../store/status-recorder.ts';
import type { Store } from '../store/store.ts';
import { BUILT_IN_INSTANCE_TYPES } from '../domain/instance-types.ts';
import { ReplicaStopper } from './replica-stopper.ts';
import { Lifecycle } from './lifecycle.ts';
import { PromotionController } from './promotion-controller.ts';

const root = scratchDir('promo');

let store: Store;
let backend: ScriptedBackend;
let lifecycle: Lifecycle;
let clock: FakeClock;
let model: Model;
let routingChanges: number;

function controller(): PromotionController {
  return new PromotionController({
    store,
    backend,
    lifecycle,
    onRoutingChange: () => routingChanges++,
    switchGraceMs: 0,
    clock,
  });
}

async function deployment(
  name: string,
  status: DeploymentStatus,
  extra: Partial<Deployment> = {},
): Promise<Deployment> {
  const d = await store.createDeployment({
    model_id: model.id,
    name,
    status,
    is_development: extra.is_development ?? false,
    bundle_sha256: 'b'.repeat(64),
    config: {},
    instance_type_name: 'local',
    autoscaling_settings: { ...DEFAULT_AUTOSCALING },
  });
  return store.updateDeployment(d.id, { desired_replicas: 1, has_served: true });
}

const production = async () => (await store.getEnvironment(model.id, 'production'))!;
const tick = async (c: PromotionController, seconds: number) => {
  await clock.advance(seconds * 1000);
  await c.tick();
};
const settle = async () => {
  await clock.advance(0); // the switch grace (0 here) is over: cleanup runs
  await sleep(20);
};

beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  backend = new ScriptedBackend();
  const home = plinthHome(mkdtempSync(join(root, 'home-')));
  lifecycle = new Lifecycle({
    store,
    artifacts: new ArtifactStore(home.bundles),
    home,
    stopper: new ReplicaStopper({ backend, drainer: { drained: async () => {} }, drainMs: 0 }),
    status: new StatusRecorder(store),
    kick: () => {},
    resetFailures: () => {},
    instanceTypes: BUILT_IN_INSTANCE_TYPES,
  });
  clock = new FakeClock();
  routingChanges = 0;
  model = await store.createModel('m');
});

test('traffic moves only once the candidate has max(1, min_replica) ready replicas; the old one then scales to zero', async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'SCALED_TO_ZERO');
  const env = await store.updateEnvironment((await production()).id, {
    current_deployment_id: v1.id,
    autoscaling_settings: { ...DEFAULT_AUTOSCALING, min_replica: 2, max_replica: 3 },
  });
  const c = controller();
  const p = await c.promote(model, env, v2, { requestedBy: 'alice' });
  assert.equal(p?.replicas_needed, 2);
  const woken = (await store.getDeployment(v2.id))!;
  assert.equal(woken.status, 'WAKING_UP', 'a candidate at zero is woken');
  assert.equal(woken.desired_replicas, 2);
  assert.equal(woken.autoscaling_settings.min_replica, 2, 'the candidate takes the environment’s settings');

  backend.ready.set(v2.id, 1);
  await tick(c, 1);
  assert.equal((await production()).current_deployment_id, v1.id, 'one of two replicas is not enough');
  backend.ready.set(v2.id, 2);
  await tick(c, 1);
  assert.equal((await production()).current_deployment_id, v2.id);
  assert.ok(routingChanges > 0);
  await settle();
  assert.equal((await store.getDeployment(v1.id))!.status, 'SCALED_TO_ZERO');
  const [done] = await store.listPromotions({ environment_id: env.id });
  assert.deepEqual(
    [done!.status, done!.requested_by, done!.from_deployment_id],
    ['SUCCEEDED', 'alice', v1.id],
  );
});

test('a gradual promotion steps traffic on the clock and survives a restart of the controller', async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'ACTIVE');
  const env = await store.updateEnvironment((await production()).id, {
    current_deployment_id: v1.id,
    promotion_settings: {
      cleanup_strategy: 'DEACTIVATE',
      ramp_up_while_promoting: true,
      ramp_up_duration_seconds: 10,
    },
  });
  backend.ready.set(v2.id, 1);
  const first = controller();
  await first.promote(model, env, v2, { requestedBy: 'admin' });
  const percent = async () => (await store.listPromotions({ environment_id: env.id }))[0]!.traffic_percent;
  await tick(first, 0);
  assert.equal(await percent(), 20);
  await tick(first, 4);
  assert.equal(await percent(), 60);
  assert.equal(
    (await production()).current_deployment_id,
    v1.id,
    'while ramping the environment still points at v1',
  );

  // The server restarts: a new controller reads the same store and carries on.
  const second = controller();
  await tick(second, 1);
  assert.equal(await percent(), 60);
  await tick(second, 3);
  assert.equal(await percent(), 80);
  await tick(second, 2);
  assert.equal((await production()).current_deployment_id, v2.id);
  await settle();
  assert.equal((await store.getDeployment(v1.id))!.status, 'DEACTIVATING', 'cleanup DEACTIVATE');
});

test('a candidate that fails leaves the environment on the old deployment', async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'DEPLOYING');
  const env = await store.updateEnvironment((await production()).id, { current_deployment_id: v1.id });
  const c = controller();
  await c.promote(model, env, v2, { requestedBy: 'admin' });
  await store.transition(v2.id, { from: 'DEPLOYING', to: 'DEPLOY_FAILED', reason: 'replicas failed' });
  await tick(c, 1);
  assert.equal((await production()).current_deployment_id, v1.id);
  const [failed] = await store.listPromotions({ environment_id: env.id });
  assert.equal(failed!.status, 'FAILED');
  assert.match(failed!.reason!, /DEPLOY_FAILED/);
});

test('refusals: the development deployment, a failed one, and a second promotion at once', async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const env = await store.updateEnvironment((await production()).id, { current_deployment_id: v1.id });
  const c = controller();
  const dev = await deployment('development', 'ACTIVE', { is_development: true });
  await assert.rejects(
    c.promote(model, env, dev, { requestedBy: 'a' }),
    /development deployment cannot be promoted/,
  );
  const broken = await deployment('broken', 'BUILD_FAILED');
  await assert.rejects(
    c.promote(model, env, broken, { requestedBy: 'a' }),
    /BUILD_FAILED and cannot be promoted/,
  );
  assert.equal(
    await c.promote(model, env, v1, { requestedBy: 'a' }),
    null,
    'promoting what already serves is a no-op',
  );
  const v2 = await deployment('v2', 'DEPLOYING');
  await c.promote(model, env, v2, { requestedBy: 'a' });
  const v3 = await deployment('v3', 'ACTIVE');
  await assert.rejects(
    c.promote(model, env, v3, { requestedBy: 'a' }),
    (err: unknown) =>
      err instanceof PlinthError &&
      err.code === 'CONFLICT' &&
      /already has a promotion in progress \(to d[a-z2-7]{7}, WAITING_FOR_REPLICAS, 0% of traffic\)/.test(
        err.message,
      ),
  );
});

test("a candidate runs on the environment's instance type unless the promotion says not to", async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'ACTIVE');
  const v3 = await deployment('v3', 'ACTIVE');
  const env = await store.updateEnvironment((await production()).id, {
    current_deployment_id: v1.id,
    instance_type_name: 'L4:4x16',
  });
  const c = controller();
  await c.promote(model, env, v2, { requestedBy: 'alice' });
  assert.equal((await store.getDeployment(v2.id))!.instance_type_name, 'L4:4x16');
  await c.cancel(await production());
  await c.promote(model, await production(), v3, { requestedBy: 'alice', preserveEnvInstanceType: false });
  assert.equal((await store.getDeployment(v3.id))!.instance_type_name, 'local', 'its own type is kept');
});

test('after a restart a ramping promotion waits for its candidate again instead of failing', async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'ACTIVE');
  await store.updateEnvironment((await production()).id, {
    current_deployment_id: v1.id,
    promotion_settings: {
      cleanup_strategy: 'KEEP',
      ramp_up_while_promoting: true,
      ramp_up_duration_seconds: 10,
    },
  });
  backend.ready.set(v2.id, 1);
  const c = controller();
  await c.promote(model, await production(), v2, { requestedBy: 'alice' });
  await tick(c, 1);
  await tick(c, 3);
  const [ramping] = await store.listPromotions({ status: 'IN_PROGRESS' });
  assert.equal(ramping!.phase, 'RAMPING');
  assert.ok(ramping!.traffic_percent > 0);

  backend.ready.set(v2.id, 0); // the server died; its replicas with it
  const restarted = controller();
  await restarted.recover();
  await tick(restarted, 1);
  const [waiting] = await store.listPromotions({ status: 'IN_PROGRESS' });
  assert.deepEqual([waiting!.phase, waiting!.traffic_percent], ['WAITING_FOR_REPLICAS', 0]);
  backend.ready.set(v2.id, 1);
  for (let i = 0; i < 20; i++) await tick(restarted, 1);
  const [done] = await store.listPromotions({ environment_id: (await production()).id });
  assert.equal(done!.status, 'SUCCEEDED');
  assert.equal((await production()).current_deployment_id, v2.id);
});

test('a store outage fails promotion ticks without ending the process; they are counted and retried', async () => {
  const failing = failingStore(store);
  const health = new LoopHealth();
  const c = new PromotionController({
    store: failing.store,
    backend,
    lifecycle,
    onRoutingChange: () => routingChanges++,
    clock,
    health,
  });
  const unhandled = await unhandledDuring(async () => {
    failing.down = true;
    c.start(250);
    await clock.advance(3000);
    failing.down = false;
    await clock.advance(30_000);
    await c.stop();
  });
  assert.deepEqual(unhandled, []);
  assert.ok((health.failures.get('promotions') ?? 0) >= 2);
  assert.equal(health.failing.get('promotions'), 0, 'working again once the store is back');
});

test('a cleanup that meets a store failure does not end the process: it is tried again until the old deployment is cleaned up', async () => {
  const failing = failingStore(store);
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'ACTIVE');
  const env = await store.updateEnvironment((await production()).id, { current_deployment_id: v1.id });
  const c = new PromotionController({
    store: failing.store,
    backend,
    lifecycle,
    onRoutingChange: () => routingChanges++,
    switchGraceMs: 1000,
    clock,
  });
  backend.ready.set(v2.id, 1);
  await c.promote(model, env, v2, { requestedBy: 'alice' });
  const unhandled = await unhandledDuring(async () => {
    await c.tick();
    assert.equal((await production()).current_deployment_id, v2.id);
    failing.down = true; // a full disk, an unreachable database: the cleanup after the switch fails
    await clock.advance(1000);
    await sleep(20);
    failing.down = false;
    await clock.advance(60_000);
    await sleep(20);
  });
  assert.deepEqual(unhandled, [], 'a failed cleanup is no unhandled rejection (it would end plinth up)');
  assert.equal(
    (await store.getDeployment(v1.id))!.status,
    'SCALED_TO_ZERO',
    'cleaned up once the store is back',
  );
  await c.stop();
});

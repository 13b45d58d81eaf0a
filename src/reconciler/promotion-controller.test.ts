// The promotion controller stepped through a fake clock over a real SQLite store, with an
// in-memory runtime backend whose ready replicas the test decides.
import { scratchDir } from '../../test/support/scratch.ts';
import { sleep } from '../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, test } from 'node:test';
import { ArtifactStore } from '../bundle/artifact-store.ts';
import { DEFAULT_AUTOSCALING, DEFAULT_PROMOTION_SETTINGS } from '../domain/autoscaling.ts';
import { PlinthError } from '../domain/errors.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import type { CleanupStrategy, Deployment, Model } from '../domain/types.ts';
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
  const { v1, v2, env } = await rampingEnv(10, 'DEACTIVATE');
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
  await c.act(await production(), 'cancel', 'alice');
  await c.promote(model, await production(), v3, { requestedBy: 'alice', preserveEnvInstanceType: false });
  assert.equal((await store.getDeployment(v3.id))!.instance_type_name, 'local', 'its own type is kept');
});

test('after a restart a ramping promotion waits for its candidate again instead of failing', async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'ACTIVE');
  await store.updateEnvironment((await production()).id, {
    current_deployment_id: v1.id,
    promotion_settings: {
      ...DEFAULT_PROMOTION_SETTINGS,
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

/** v1 serving production, v2 ready beside it, and a ramp of `seconds` set for promotions. */
async function rampingEnv(seconds = 10, cleanup: CleanupStrategy = 'SCALE_TO_ZERO') {
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'ACTIVE');
  const env = await store.updateEnvironment((await production()).id, {
    current_deployment_id: v1.id,
    promotion_settings: {
      ...DEFAULT_PROMOTION_SETTINGS,
      cleanup_strategy: cleanup,
      ramp_up_while_promoting: true,
      ramp_up_duration_seconds: seconds,
    },
  });
  backend.ready.set(v1.id, 1);
  backend.ready.set(v2.id, 1);
  return { v1, v2, env };
}

const inProgress = async () => (await store.listPromotions({ status: 'IN_PROGRESS' }))[0];
const latest = async () => (await store.listPromotions({}))[0]!;

test('pause holds a ramp where it stands; resume carries on, skipping the paused time; both are in the history', async () => {
  const { v2, env } = await rampingEnv(10);
  const c = controller();
  await c.promote(model, env, v2, { requestedBy: 'alice' });
  await tick(c, 0);
  await tick(c, 2);
  assert.equal((await inProgress())!.traffic_percent, 40);
  await c.act(env, 'pause', 'bob');
  await tick(c, 30);
  assert.equal((await inProgress())!.traffic_percent, 40, 'a paused ramp holds its split');
  await assert.rejects(c.act(env, 'pause', 'bob'), /already paused/);
  await c.act(env, 'resume', 'carol');
  await tick(c, 2);
  assert.equal((await inProgress())!.traffic_percent, 60, 'the ramp goes on from 4 s, not from 34 s');
  await tick(c, 10);
  const done = await latest();
  assert.equal(done.status, 'SUCCEEDED');
  assert.deepEqual(
    done.actions.map((a) => [a.action, a.by]),
    [
      ['promote', 'alice'],
      ['pause', 'bob'],
      ['resume', 'carol'],
    ],
  );
});

test('force-cancel sends all traffic back at once and stops a candidate that is still starting', async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const v2 = await deployment('v2', 'SCALED_TO_ZERO');
  const env = await store.updateEnvironment((await production()).id, { current_deployment_id: v1.id });
  const c = controller();
  await c.promote(model, env, v2, { requestedBy: 'alice' });
  assert.equal((await store.getDeployment(v2.id))!.status, 'WAKING_UP');
  const cancelled = await c.act(env, 'force_cancel', 'bob');
  assert.equal(cancelled.status, 'CANCELLED');
  assert.equal(cancelled.traffic_percent, 0);
  assert.equal((await production()).current_deployment_id, v1.id);
  const candidate = (await store.getDeployment(v2.id))!;
  assert.deepEqual([candidate.status, candidate.desired_replicas], ['SCALED_TO_ZERO', 0]);
  await assert.rejects(c.act(env, 'force_cancel', 'bob'), /no promotion in progress/);
});

test('force-roll-forward sends all traffic to the candidate now, mid-ramp', async () => {
  const { v1, v2, env } = await rampingEnv(600);
  const c = controller();
  await c.promote(model, env, v2, { requestedBy: 'alice' });
  await tick(c, 1);
  assert.equal((await inProgress())!.traffic_percent, 20);
  const forced = await c.act(env, 'force_roll_forward', 'bob');
  assert.deepEqual([forced.status, forced.traffic_percent], ['SUCCEEDED', 100]);
  assert.equal((await production()).current_deployment_id, v2.id);
  await settle();
  assert.equal(
    (await store.getDeployment(v1.id))!.status,
    'SCALED_TO_ZERO',
    'the previous one is cleaned up',
  );
});

/** Replicas follow what the promotion asks, one tick later: the test's runtime. */
async function followDesired(...ids: string[]) {
  for (const id of ids) backend.ready.set(id, (await store.getDeployment(id))!.desired_replicas);
}

async function rollingEnv(replicas: number, surge: number) {
  const v1 = await store.updateDeployment((await deployment('v1', 'ACTIVE')).id, {
    desired_replicas: replicas,
  });
  const v2 = await deployment('v2', 'SCALED_TO_ZERO');
  backend.ready.set(v1.id, replicas);
  const env = await store.updateEnvironment((await production()).id, {
    current_deployment_id: v1.id,
    promotion_settings: {
      ...DEFAULT_PROMOTION_SETTINGS,
      rolling_deploy: true,
      rolling_deploy_config: {
        max_surge_percent: surge,
        max_unavailable_percent: 0,
        stabilization_time_seconds: 5,
      },
    },
  });
  return { v1, v2, env };
}

test('a rolling deploy replaces replicas in steps: never above old + surge, never below the old count ready', async () => {
  const { v1, v2, env } = await rollingEnv(4, 50);
  const c = controller();
  const p = await c.promote(model, env, v2, { requestedBy: 'alice' });
  assert.equal(p!.phase, 'ROLLING');
  assert.equal((await store.getDeployment(v2.id))!.desired_replicas, 2, 'the first step starts 50% of 4');
  const percents: number[] = [];
  for (let i = 0; i < 60 && (await inProgress()); i++) {
    await followDesired(v1.id, v2.id);
    const total = (backend.ready.get(v1.id) ?? 0) + (backend.ready.get(v2.id) ?? 0);
    assert.ok(total <= 6, `${total} replicas run`);
    assert.ok(total >= 4, `only ${total} replicas run`);
    await tick(c, 1);
    const now = await inProgress();
    if (now) percents.push(now.traffic_percent);
  }
  const done = await latest();
  assert.equal(done.status, 'SUCCEEDED');
  assert.equal((await production()).current_deployment_id, v2.id);
  assert.equal((await store.getDeployment(v2.id))!.desired_replicas, 4);
  assert.ok(
    percents.some((x) => x > 0 && x < 100),
    `traffic moved in steps: ${percents.join(',')}`,
  );
  assert.deepEqual(
    [...percents].sort((a, b) => a - b),
    percents,
    'traffic only moves forward',
  );
});

test('cancelling a rolling deploy rolls back in steps; force-roll-forward works even then', async () => {
  const { v1, v2, env } = await rollingEnv(4, 50);
  const c = controller();
  await c.promote(model, env, v2, { requestedBy: 'alice' });
  for (let i = 0; i < 8; i++) {
    await followDesired(v1.id, v2.id);
    await tick(c, 1);
  }
  assert.ok((await store.getDeployment(v1.id))!.desired_replicas < 4, 'midway: the old one has shrunk');
  const back = await c.act(env, 'cancel', 'bob');
  assert.equal(back.phase, 'ROLLING_BACK');
  assert.equal(back.status, 'IN_PROGRESS');
  await assert.rejects(c.act(env, 'cancel', 'bob'), /already rolling back/);
  for (let i = 0; i < 60 && (await inProgress()); i++) {
    await followDesired(v1.id, v2.id);
    const total = (backend.ready.get(v1.id) ?? 0) + (backend.ready.get(v2.id) ?? 0);
    assert.ok(total <= 6 && total >= 4, `${total} replicas run`);
    await tick(c, 1);
  }
  const done = await latest();
  assert.deepEqual([done.status, done.traffic_percent], ['CANCELLED', 0]);
  assert.equal((await production()).current_deployment_id, v1.id);
  assert.equal((await store.getDeployment(v1.id))!.desired_replicas, 4);
  assert.equal((await store.getDeployment(v2.id))!.status, 'SCALED_TO_ZERO');

  // Again, and this time rolled forward while rolling back.
  const v3 = await deployment('v3', 'SCALED_TO_ZERO');
  await c.promote(model, await production(), v3, { requestedBy: 'alice' });
  for (let i = 0; i < 8; i++) {
    await followDesired(v1.id, v3.id);
    await tick(c, 1);
  }
  await c.act(await production(), 'cancel', 'bob');
  const forced = await c.act(await production(), 'force_roll_forward', 'carol');
  assert.equal(forced.status, 'SUCCEEDED');
  assert.equal((await production()).current_deployment_id, v3.id);
  assert.equal((await store.getDeployment(v3.id))!.desired_replicas, 4, 'the candidate gets the full count');
});

test('an inactive environment takes no promotion', async () => {
  const v1 = await deployment('v1', 'ACTIVE');
  const off = await store.updateEnvironment((await production()).id, { is_active: false });
  await assert.rejects(
    controller().promote(model, off, v1, { requestedBy: 'alice' }),
    /inactive; activate it/,
  );
});

test('an action and a tick take turns: a pause sent while a tick runs is never stepped over', async () => {
  const { v2, env } = await rampingEnv(10);
  const c = controller();
  await c.promote(model, env, v2, { requestedBy: 'alice' });
  await tick(c, 0);
  assert.equal((await inProgress())!.traffic_percent, 20);
  await clock.advance(2000);
  // The tick would move the ramp to 40%; the pause arrives while it runs.
  const [, paused] = await Promise.all([c.tick(), c.act(env, 'pause', 'bob')]);
  assert.ok(paused.paused_at !== null);
  const held = (await inProgress())!.traffic_percent;
  await tick(c, 5);
  await tick(c, 5);
  assert.equal((await inProgress())!.traffic_percent, held, 'nothing moves once paused');
  assert.equal((await inProgress())!.paused_at, paused.paused_at);
});

test('a rolling deploy puts counts right every tick (a build that set its own); all traffic cannot go to a candidate still building', async () => {
  const { v1, v2, env } = await rollingEnv(2, 50);
  await store.updateDeployment(v2.id, { status: 'BUILDING' } as never);
  const c = controller();
  await c.promote(model, env, v2, { requestedBy: 'alice' });
  await assert.rejects(c.act(env, 'force_roll_forward', 'bob'), /candidate is BUILDING/);
  // The build finishes and asks for min_replica replicas of its own, above the step's count.
  await store.updateDeployment(v2.id, { status: 'DEPLOYING', desired_replicas: 2 } as never);
  await tick(c, 1);
  assert.equal((await store.getDeployment(v2.id))!.desired_replicas, 1, 'the first step runs one');
  // An autoscaler write that raced the start is put right too.
  await store.updateDeployment(v1.id, { desired_replicas: 3 });
  await tick(c, 1);
  assert.equal((await store.getDeployment(v1.id))!.desired_replicas, 2);
});

// The operations a chaos run applies, one planned step at a time. Each checks its precondition
// first and is skipped (saying why) when it does not hold; what it picks among candidates comes
// from the plan's `pick`, over a list sorted the same way every time. Faults that last (a SIGSTOP,
// an outage, a full disk) return once started and end in the background.
import { sleep } from '../support/wait.ts';
import { isRunProcess } from './orphans.ts';
import type { DeploymentJson, DeploymentView, EnvironmentJson, Observers, ReplicaJson } from './observe.ts';
import type { OpKind, PlannedOp } from './plan.ts';
import { FOREVER } from './records.ts';
import { applied, failed, pushVersion, skipped } from './world.ts';
import type { ModelDir, OpOutcome, World } from './world.ts';

/** Live replicas past which nothing that adds one is done (the machine has two cores). */
export const MAX_LIVE_REPLICAS = 8;
/** Deployments a model keeps: a push beyond deletes the oldest that serves nothing. */
const MAX_DEPLOYMENTS = 12;
const RAMP_S = 6;
const AUTOSCALING_BOUNDS: readonly [number, number][] = [
  [0, 1],
  [1, 1],
  [1, 2],
  [1, 3],
  [2, 3],
  [0, 2],
];

interface Ctx {
  world: World;
  observers: Observers;
}

type Operation = (ctx: Ctx, op: PlannedOp, model: ModelDir) => Promise<OpOutcome>;

const OPERATIONS: Record<OpKind, Operation> = {
  async push({ world, observers }, op, model) {
    if (observers.liveReplicas() >= MAX_LIVE_REPLICAS)
      return skipped(`${observers.liveReplicas()} live replicas`);
    let flags = op.variant < 3 ? [] : op.variant < 5 ? ['--promote'] : ['--promote', '--no-wait'];
    let note = '';
    const env = await environment(world, model);
    if (!env) return skipped('the environment did not answer');
    const all = await deployments(world, observers, model);
    if (all.length >= MAX_DEPLOYMENTS) {
      // As a user cleaning up: the oldest deployment that serves nothing goes first.
      const busy = new Set([env.current_deployment_id, env.in_progress_promotion?.to_deployment_id]);
      const oldest = all.find(
        (d) => !busy.has(d.id) && ['ACTIVE', 'SCALED_TO_ZERO', 'INACTIVE'].includes(d.status),
      );
      if (!oldest) return skipped(`${all.length} deployments and none to delete`);
      const r = await world.api('DELETE', `/v1/models/${model.name}/deployments/${oldest.id}`);
      if (r.status !== 200)
        return failed(`delete ${oldest.name} answered ${r.status} ${JSON.stringify(r.body)}`);
      observers.deployments.delete(oldest.id);
      note += ` (deleted ${oldest.name} first)`;
    }
    if (flags.length > 0 && env.in_progress_promotion) {
      flags = [];
      note += ' (a promotion is in progress: pushed without --promote)';
    }
    const pushed = await pushVersion(world, model, flags);
    if (pushed.deploymentId) observers.versions.set(`${model.name}:${pushed.version}`, pushed.deploymentId);
    return { ...pushed.outcome, detail: pushed.outcome.detail + note };
  },

  promote: (ctx, op, model) => promote(ctx, op, model, false),
  'promote-gradual': (ctx, op, model) => promote(ctx, op, model, true),

  async 'cancel-promotion'({ world }, _op, model) {
    const env = await environment(world, model);
    if (!env?.in_progress_promotion) return skipped('no promotion in progress');
    const r = await world.api(
      'POST',
      `/v1/models/${model.name}/environments/production/cancel_promotion`,
      {},
    );
    if (r.status === 409) return skipped('the promotion finished meanwhile');
    return r.status === 200
      ? applied(
          `cancelled the promotion to ${env.in_progress_promotion.to_deployment_id} (${env.in_progress_promotion.phase})`,
        )
      : failed(`cancel_promotion answered ${r.status} ${JSON.stringify(r.body)}`);
  },

  /** Pause then resume (variants 0–1), force-cancel (2–3) or force-roll-forward (4–5). */
  async 'steer-promotion'({ world }, op, model) {
    const env = await environment(world, model);
    const p = env?.in_progress_promotion;
    if (!p) return skipped('no promotion in progress');
    const base = `/v1/models/${model.name}/environments/production`;
    const actions =
      op.variant < 2
        ? ['pause_promotion', 'resume_promotion']
        : [op.variant < 4 ? 'force_cancel_promotion' : 'force_roll_forward_promotion'];
    for (const [i, action] of actions.entries()) {
      if (i > 0) await sleep(1500);
      const r = await world.api('POST', `${base}/${action}`, {});
      if (r.status === 409) return skipped(`${action}: ${JSON.stringify(r.body)}`);
      if (r.status !== 200) return failed(`${action} answered ${r.status} ${JSON.stringify(r.body)}`);
    }
    return applied(`${actions.join(' then ')} on the promotion to ${p.to_deployment_id} (${p.phase})`);
  },

  async autoscaling({ world }, op, model) {
    const [min, max] = AUTOSCALING_BOUNDS[op.variant % AUTOSCALING_BOUNDS.length]!;
    const r = await world.cli(
      ['autoscaling', 'set', '--model', model.name, '--environment', 'production'].concat([
        '--min-replica',
        String(min),
        '--max-replica',
        String(max),
      ]),
    );
    return r.code === 0
      ? applied(`production of ${model.name}: min_replica ${min}, max_replica ${max}`)
      : failed(`autoscaling set: ${r.stderr.trim()}`);
  },

  async 'instance-type'({ world, observers }, op, model) {
    const active = (await deployments(world, observers, model)).filter((d) => d.status === 'ACTIVE');
    const d = choose(active, op.pick);
    if (!d) return skipped('no ACTIVE deployment');
    const type = d.instanceType === '1x4' ? '1x2' : '1x4';
    const r = await world.cli([
      'deployments',
      'update',
      d.id,
      '--model',
      model.name,
      '--instance-type',
      type,
    ]);
    return r.code === 0
      ? applied(`${model.name}/${d.name}: ${d.instanceType} → ${type}`)
      : failed(`deployments update: ${r.stderr.trim()}`);
  },

  async 'toggle-active'({ world, observers }, op, model) {
    const env = await environment(world, model);
    if (!env) return skipped('the environment did not answer');
    const busy = new Set([env.current_deployment_id, env.in_progress_promotion?.to_deployment_id]);
    const idle = (await deployments(world, observers, model)).filter(
      (d) =>
        !d.isDevelopment && !busy.has(d.id) && ['ACTIVE', 'SCALED_TO_ZERO', 'INACTIVE'].includes(d.status),
    );
    const d = choose(idle, op.pick);
    if (!d) return skipped('no deployment outside the environment');
    const verb = d.status === 'INACTIVE' ? 'activate' : 'deactivate';
    if (verb === 'activate' && observers.liveReplicas() >= MAX_LIVE_REPLICAS)
      return skipped(`${observers.liveReplicas()} live replicas`);
    const r = await world.api<{ status: string }>(
      'POST',
      `/v1/models/${model.name}/deployments/${d.id}/${verb}`,
      {},
    );
    return r.status === 200
      ? applied(`${verb}d ${model.name}/${d.name} (${d.status} → ${r.body.status})`)
      : failed(`${verb} ${d.name} answered ${r.status} ${JSON.stringify(r.body)}`);
  },

  'kill-replica': (ctx, op, model) => signalReplica(ctx, op, model, 'SIGKILL'),
  'stop-replica': (ctx, op, model) => signalReplica(ctx, op, model, 'SIGSTOP'),

  'kill-server': ({ world }, op) => world.killServer?.(op.durationMs) ?? notHere(),
  async 'disk-full'({ world, observers }, op, model) {
    if (!world.diskFull) return notHere();
    // Variants 3–5: the disk fills while a push is being built.
    if (op.variant < 3 || world.timeline.isOpen('disk-full') || observers.liveReplicas() >= MAX_LIVE_REPLICAS)
      return world.diskFull(op.durationMs);
    const pushed = await pushVersion(world, model, ['--no-wait']);
    if (pushed.deploymentId) observers.versions.set(`${model.name}:${pushed.version}`, pushed.deploymentId);
    const full = await world.diskFull(op.durationMs);
    return { ...full, detail: `${pushed.outcome.detail}; then ${full.detail}` };
  },
  'kill-leader': ({ world }) => world.killLeader?.() ?? notHere(),
  'store-outage': ({ world }, op) => world.storeOutage?.(op.variant, op.durationMs) ?? notHere(),
};

const notHere = (): Promise<OpOutcome> => Promise.resolve(skipped('not in this world'));

export async function applyOperation(world: World, observers: Observers, op: PlannedOp): Promise<OpOutcome> {
  const model = world.models[op.model % world.models.length]!;
  try {
    return await OPERATIONS[op.kind]({ world, observers }, op, model);
  } catch (err) {
    return failed(`threw: ${(err as Error).message}`);
  }
}

function choose<T>(items: readonly T[], pick: number): T | undefined {
  return items[Math.floor(pick * items.length)];
}

async function environment(world: World, model: ModelDir): Promise<EnvironmentJson | null> {
  const r = await world.api<EnvironmentJson>('GET', `/v1/models/${model.name}/environments/production`);
  return r.status === 200 ? r.body : null;
}

/** The model's deployments now, by version (v1, v2, …; others after). */
async function deployments(world: World, observers: Observers, model: ModelDir): Promise<DeploymentView[]> {
  const r = await world.replicaApi<{ deployments: DeploymentJson[] }>(
    'GET',
    `/v1/models/${model.name}/deployments`,
  );
  if (r.status !== 200) return [];
  for (const d of r.body.deployments) observers.remember(model.name, d);
  const order = (name: string): number => Number(/^v(\d+)$/.exec(name)?.[1] ?? 1e9);
  return r.body.deployments
    .map((d) => observers.deployments.get(d.id)!)
    .sort((a, b) => order(a.name) - order(b.name) || a.id.localeCompare(b.id));
}

async function promote(
  { world, observers }: Ctx,
  op: PlannedOp,
  model: ModelDir,
  gradual: boolean,
): Promise<OpOutcome> {
  const env = await environment(world, model);
  if (!env) return skipped('the environment did not answer');
  if (env.in_progress_promotion) return skipped('a promotion is in progress');
  const candidates = (await deployments(world, observers, model)).filter(
    (d) =>
      !d.isDevelopment &&
      d.id !== env.current_deployment_id &&
      ['ACTIVE', 'SCALED_TO_ZERO'].includes(d.status),
  );
  const d = choose(candidates, op.pick);
  if (!d) return skipped('no deployment to promote');
  if (d.status === 'SCALED_TO_ZERO' && observers.liveReplicas() >= MAX_LIVE_REPLICAS)
    return skipped(`${observers.liveReplicas()} live replicas`);
  const base = `/v1/models/${model.name}/environments/production`;
  // A third of gradual promotions are rolling deploys (half the replicas at a time, 1 s apart).
  const rolling = gradual && op.variant % 3 === 0;
  const settings = await world.api('PATCH', base, {
    promotion_settings: {
      ramp_up_while_promoting: gradual && !rolling,
      ramp_up_duration_seconds: RAMP_S,
      rolling_deploy: rolling,
      rolling_deploy_config: {
        max_surge_percent: 50,
        max_unavailable_percent: 0,
        stabilization_time_seconds: 1,
      },
    },
  });
  if (settings.status !== 200)
    return failed(`promotion settings answered ${settings.status} ${JSON.stringify(settings.body)}`);
  const r = await world.api('POST', `${base}/promote`, { deployment_id: d.id });
  return r.status === 200 || r.status === 202
    ? applied(
        `promoting ${model.name}/${d.name} (${d.status}) ${rolling ? 'as a rolling deploy' : gradual ? `gradually over ${RAMP_S} s` : 'at once'}`,
      )
    : failed(`promote ${d.name} answered ${r.status} ${JSON.stringify(r.body)}`);
}

/**
 * SIGKILL, or SIGSTOP then SIGCONT after the op's duration, one READY replica: of production's
 * deployment for variants 0–3, else of any deployment that has one.
 */
async function signalReplica(
  { world, observers }: Ctx,
  op: PlannedOp,
  model: ModelDir,
  signal: 'SIGKILL' | 'SIGSTOP',
): Promise<OpOutcome> {
  const stopped = world.timeline.events.some((e) => e.kind === 'replica-stopped' && e.untilMs === FOREVER);
  if (signal === 'SIGSTOP' && stopped) return skipped('a replica is stopped already');
  const env = await environment(world, model);
  const withReplicas = (await deployments(world, observers, model)).filter((d) => d.ready > 0);
  const production = withReplicas.filter((d) => d.id === env?.current_deployment_id);
  const d = choose(op.variant < 4 && production.length > 0 ? production : withReplicas, op.pick);
  if (!d) return skipped('no deployment with a ready replica');
  const atMs = Date.now();
  const r = await world.replicaApi<{ replicas: ReplicaJson[] }>(
    'GET',
    `/v1/models/${model.name}/deployments/${d.id}/replicas`,
  );
  if (r.status !== 200) return failed(`replicas answered ${r.status}`);
  observers.noteReplicas(model.name, d.id, atMs, r.body.replicas);
  const ready = r.body.replicas
    .filter((x) => x.status === 'READY' && x.pid)
    .sort((a, b) => a.id.localeCompare(b.id));
  const victim = choose(ready, op.pick);
  if (!victim) return skipped(`${d.name} has no READY replica with a pid`);
  const pid = victim.pid!;
  if (!isRunProcess(pid, world.platformPids, world.home))
    return failed(`pid ${pid} is not a process of this run`);
  const where = `${model.name}/${d.name} replica ${victim.id} (pid ${pid}; ${ready.length - 1} other(s) ready)`;
  if (signal === 'SIGKILL') {
    world.timeline.add({
      kind: 'replica-killed',
      atMs: Date.now(),
      model: model.name,
      deploymentId: d.id,
      replicaId: victim.id,
      pid,
      othersReady: ready.length - 1,
    });
    process.kill(pid, 'SIGKILL');
    return applied(`SIGKILL ${where}`);
  }
  const event = {
    kind: 'replica-stopped' as const,
    atMs: Date.now(),
    untilMs: FOREVER,
    model: model.name,
    deploymentId: d.id,
    replicaId: victim.id,
    pid,
  };
  world.timeline.add(event);
  process.kill(pid, 'SIGSTOP');
  const held = (async () => {
    await sleep(op.durationMs);
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // it died meanwhile
    }
    event.untilMs = Date.now();
  })();
  world.background.add(held);
  void held.finally(() => world.background.delete(held));
  return applied(`SIGSTOP ${where} for ${op.durationMs} ms`);
}

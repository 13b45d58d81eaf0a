// Runs promotions: starts them (checks, candidate brought up with the environment's settings),
// steps each one through promotion-steps.ts on every tick, switches the environment atomically
// when the candidate is ready, and cleans up the previous deployment as the environment says.
// All state is in the store, so a restarted server picks up where it stopped.
import { systemClock } from '../domain/clock.ts';
import type { Clock } from '../domain/clock.ts';
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import { PlinthError } from '../domain/errors.ts';
import { Signal } from '../domain/signal.ts';
import { isDown, isFailed } from '../domain/deployment-status.ts';
import type {
  Deployment,
  Environment,
  Model,
  Promotion,
  PromotionAction,
  RollingState,
} from '../domain/types.ts';
import type { RuntimeBackend } from '../runtime/backend.ts';
import type { Store } from '../store/store.ts';
import type { Lifecycle } from './lifecycle.ts';
import { actOnPromotion, stepPromotion } from './promotion-steps.ts';
import { startRolling } from './rolling-steps.ts';

export interface PromoteOptions {
  /** KEEP the previous deployment running, whatever the environment's cleanup strategy. */
  preservePrevious?: boolean;
  /** Run the candidate on the environment's instance type, when it has one (default true). */
  preserveEnvInstanceType?: boolean;
  requestedBy: string;
}

export interface PromotionControllerDeps {
  store: Store;
  backend: RuntimeBackend;
  lifecycle: Lifecycle;
  /** Routing changed (an environment switched or its traffic split moved). */
  onRoutingChange: () => void;
  /** How long the old deployment keeps its replicas after a switch, for requests already routed. */
  switchGraceMs?: number;
  clock?: Clock;
  /** Where failed ticks are counted (the control-loop metrics). */
  health?: LoopHealth;
}

/** Tries of a cleanup after a switch, about two minutes in all. */
const CLEANUP_ATTEMPTS = 8;

/** A deployment now serves an environment (a promotion switched it there). */
export interface EnvironmentSwitch {
  deploymentId: string;
  environment: string;
}

export class PromotionController {
  /** A promotion switched an environment to its candidate: its replicas are told (setup_environment). */
  readonly switched = new Signal<EnvironmentSwitch>();
  private readonly deps: PromotionControllerDeps;
  private loop: ControlLoop | null = null;
  /** Cleanups waiting for their time (cancelled on stop). */
  private readonly cleanups = new Set<() => void>();
  private stopped = false;
  private running: Promise<void> | null = null;
  /** Actions and ticks take turns: neither works from what the other is about to change. */
  private turn: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;

  constructor(deps: PromotionControllerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
  }

  private now(): number {
    return this.clock.now();
  }

  /**
   * After a restart no replica is left: a promotion that was ramping goes back to waiting for its
   * candidate's replicas (the previous deployment takes all traffic meanwhile) and ramps again
   * from the start, instead of failing because the candidate has none ready yet. A paused ramp
   * keeps its split (requests for the candidate wait for its replicas to start again).
   */
  async recover(): Promise<void> {
    for (const p of await this.deps.store.listPromotions({ status: 'IN_PROGRESS' })) {
      if (p.phase !== 'RAMPING' || p.paused_at !== null) continue;
      await this.deps.store.updatePromotion(p.id, {
        phase: 'WAITING_FOR_REPLICAS',
        traffic_percent: 0,
        ramp_started_at: null,
      });
    }
    this.deps.onRoutingChange();
  }

  /** Steps promotions every `intervalMs`; a tick that fails (the store) is logged, counted and retried. */
  start(intervalMs = 250): void {
    this.loop = new ControlLoop(() => this.tick(), {
      name: 'promotions',
      intervalMs,
      clock: this.clock,
      health: this.deps.health,
    });
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.cleanups) cancel();
    this.cleanups.clear();
    await this.loop?.stop();
    await this.running?.catch(() => undefined);
  }

  async promote(
    model: Model,
    env: Environment,
    candidate: Deployment,
    options: PromoteOptions,
  ): Promise<Promotion | null> {
    const { store, lifecycle } = this.deps;
    const inProgress = (await store.listPromotions({ environment_id: env.id, status: 'IN_PROGRESS' }))[0];
    if (inProgress) {
      throw new PlinthError(
        'CONFLICT',
        `environment ${env.name} already has a promotion in progress (to ${inProgress.to_deployment_id}, ${inProgress.phase}, ${inProgress.traffic_percent}% of traffic); cancel it or wait`,
      );
    }
    if (!env.is_active) {
      throw new PlinthError(
        'CONFLICT',
        `environment ${env.name} is inactive; activate it (POST …/environments/${env.name}/activate) before promoting to it`,
      );
    }
    if (candidate.is_development) {
      throw new PlinthError(
        'VALIDATION_ERROR',
        'the development deployment cannot be promoted: it is mutable and live-reloads; push without --watch to make a published deployment and promote that',
      );
    }
    if (isFailed(candidate.status)) {
      throw new PlinthError(
        'VALIDATION_ERROR',
        `${candidate.name} is ${candidate.status} and cannot be promoted; retry it or push a fix`,
      );
    }
    if (env.current_deployment_id === candidate.id) return null;
    const servesOther = (await store.listEnvironments(model.id)).find(
      (e) => e.current_deployment_id === candidate.id,
    );
    if (servesOther || env.promotion_settings.redeploy_on_promotion) {
      // A deployment serves one environment (and redeploy_on_promotion asks for a fresh one
      // anyway): promote a fresh deployment of the same bundle.
      candidate = (
        await lifecycle.createDeployment({ modelName: model.name, bundleSha256: candidate.bundle_sha256 })
      ).deployment;
    }
    const settings = env.autoscaling_settings;
    const needed = Math.max(1, settings.min_replica);
    // An environment with its own instance type runs what it serves on it, unless asked not to.
    const instanceType =
      env.instance_type_name && options.preserveEnvInstanceType !== false
        ? env.instance_type_name
        : candidate.instance_type_name;
    const rolling = await this.rollingPlan(env);
    await store.updateDeployment(candidate.id, { autoscaling_settings: settings });
    candidate = await lifecycle.changeInstanceType(candidate, instanceType);
    if (rolling) {
      // Exactly the first step's count, even when the candidate already runs more.
      if (candidate.status !== 'BUILDING')
        await lifecycle.resize(candidate, rolling.incoming_target, `rolling deploy to ${env.name}`);
    } else if (candidate.status !== 'BUILDING') {
      await lifecycle.activate(candidate, Math.max(needed, candidate.desired_replicas));
    }
    const ramp =
      !rolling && env.promotion_settings.ramp_up_while_promoting
        ? env.promotion_settings.ramp_up_duration_seconds
        : 0;
    const startedAt = new Date(this.now()).toISOString();
    const promotion = await store.createPromotion({
      model_id: model.id,
      environment_id: env.id,
      environment_name: env.name,
      from_deployment_id: env.current_deployment_id,
      to_deployment_id: candidate.id,
      status: 'IN_PROGRESS',
      phase: rolling ? 'ROLLING' : 'WAITING_FOR_REPLICAS',
      traffic_percent: 0,
      cleanup_strategy: options.preservePrevious ? 'KEEP' : env.promotion_settings.cleanup_strategy,
      ramp_up_duration_seconds: ramp,
      replicas_needed: rolling ? rolling.replicas : needed,
      requested_by: options.requestedBy,
      reason: null,
      started_at: startedAt,
      ramp_started_at: null,
      finished_at: null,
      paused_at: null,
      rolling,
      actions: [{ action: 'promote', by: options.requestedBy, at: startedAt }],
    });
    void this.loop?.kick();
    return promotion;
  }

  /**
   * A rolling deploy replaces the replicas the environment's deployment runs now; with nothing
   * running (no deployment, or one at zero) there is nothing to replace and the promotion switches.
   */
  private async rollingPlan(env: Environment): Promise<RollingState | null> {
    if (!env.promotion_settings.rolling_deploy || !env.current_deployment_id) return null;
    const previous = await this.deps.store.getDeployment(env.current_deployment_id);
    if (!previous || previous.desired_replicas === 0) return null;
    return startRolling(env.promotion_settings.rolling_deploy_config, previous.desired_replicas);
  }

  /**
   * Applies a person's action to the environment's promotion in progress and records who did it;
   * a promotion that cannot take it (none, or not in a state for it) is a CONFLICT naming why.
   * Once recorded, the action stands: making the deployments follow it is retried if it fails.
   */
  act(env: Environment, action: Exclude<PromotionAction, 'promote'>, by: string): Promise<Promotion> {
    return this.inTurn(async () => {
      const nowMs = this.now();
      const updated = await this.deps.store.transaction(async (tx) => {
        const p = (await tx.listPromotions({ environment_id: env.id, status: 'IN_PROGRESS' }))[0];
        if (!p) throw new PlinthError('CONFLICT', `environment ${env.name} has no promotion in progress`);
        const patch = actOnPromotion(p, action, nowMs);
        if (typeof patch === 'string')
          throw new PlinthError('CONFLICT', `cannot ${action.replace(/_/g, ' ')} in ${env.name}: ${patch}`);
        if (action === 'force_roll_forward') checkRollForward(await tx.getDeployment(p.to_deployment_id));
        const record = { action, by, at: new Date(nowMs).toISOString() };
        const next = await tx.updatePromotion(p.id, { ...patch, actions: [...p.actions, record] });
        if (next.status === 'SUCCEEDED')
          await tx.updateEnvironment(p.environment_id, { current_deployment_id: p.to_deployment_id });
        return next;
      });
      await this.settleSoon(updated);
      return updated;
    });
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const next = this.turn.then(work);
    this.turn = next.catch(() => undefined);
    return next;
  }

  /** Steps every promotion in progress once; ticks never overlap. */
  tick(): Promise<void> {
    this.running ??= this.inTurn(() => this.stepAll()).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async stepAll(): Promise<void> {
    for (const p of await this.deps.store.listPromotions({ status: 'IN_PROGRESS' })) {
      try {
        const now = await this.step(p);
        // A rolling deploy's counts are asked for again every tick: a build that set its own, an
        // autoscaler write that raced the start, or a resize that failed is put right.
        if (now?.status === 'IN_PROGRESS' && now.rolling) await this.settle(now);
      } catch (err) {
        console.error(`promotion ${p.id}: ${(err as Error).stack ?? String(err)}`);
      }
    }
  }

  /**
   * One step of a promotion, worked out from the promotion as the store has it now; answers it
   * as it stands after the step (null: no longer in progress before the step).
   */
  private async step(p: Promotion): Promise<Promotion | null> {
    const { store } = this.deps;
    const candidate = await store.getDeployment(p.to_deployment_id);
    const observed = {
      nowMs: this.now(),
      status: candidate?.status,
      ...this.observe(p.to_deployment_id),
      previous: p.from_deployment_id ? this.observe(p.from_deployment_id) : undefined,
    };
    const updated = await store.transaction(async (tx) => {
      // Re-read inside the transaction: an action (another control plane's too) may have won.
      const current = (
        await tx.listPromotions({ environment_id: p.environment_id, status: 'IN_PROGRESS' })
      ).find((x) => x.id === p.id);
      const patch = current && stepPromotion(current, observed);
      if (!current || !patch) return current ?? null;
      const next = await tx.updatePromotion(p.id, patch);
      if (next.status === 'SUCCEEDED')
        await tx.updateEnvironment(p.environment_id, { current_deployment_id: p.to_deployment_id });
      return { next, moved: true };
    });
    if (!updated) return null;
    if (!('moved' in updated)) return updated;
    await this.settleSoon(updated.next);
    return updated.next;
  }

  /** Ready and not-yet-stopped replicas of a deployment, as the runtime sees them now. */
  private observe(deploymentId: string): { readyReplicas: number; liveReplicas: number } {
    const replicas = this.deps.backend.list(deploymentId);
    return {
      readyReplicas: replicas.filter((r) => r.phase === 'READY').length,
      liveReplicas: replicas.filter((r) => r.phase !== 'STOPPED' && r.phase !== 'FAILED').length,
    };
  }

  /**
   * Makes the deployments follow a promotion an action or a step just changed. Routing changes at
   * once; a failure is retried (and a rolling deploy's counts are asked for every tick anyway),
   * never thrown at the caller: what was recorded stands.
   */
  private async settleSoon(p: Promotion): Promise<void> {
    this.deps.onRoutingChange();
    await this.retrying(`making the deployments follow promotion ${p.id}`, () => this.settle(p), 1, 0);
  }

  /**
   * Runs `work` after `waitMs`; a failure (the store: a full disk, an outage; a lifecycle move) is
   * logged and tried again with a doubling wait, about two minutes in all, never left as an
   * unhandled rejection. Waits are cancelled on stop.
   */
  private async retrying(
    what: string,
    work: () => Promise<void>,
    attempt: number,
    waitMs: number,
  ): Promise<void> {
    if (waitMs > 0) {
      await new Promise<void>((resolve) => {
        const cancel = this.clock.after(waitMs, () => {
          this.cleanups.delete(cancel);
          resolve();
        });
        this.cleanups.add(cancel);
      });
      if (this.stopped) return;
    }
    try {
      await work();
    } catch (err) {
      const again = attempt < CLEANUP_ATTEMPTS && !this.stopped;
      console.error(`${what} failed: ${(err as Error).message}${again ? '; trying again' : ''}`);
      if (again) void this.retrying(what, work, attempt + 1, Math.min(30_000, 1000 * 2 ** (attempt - 1)));
    }
  }

  /**
   * Makes the deployments match what the promotion became: routing, a rolling deploy's replica
   * counts, the previous deployment's replicas back after a cancel or a failure, the candidate
   * retired after one, and the switch's cleanup after a success.
   */
  private async settle(p: Promotion): Promise<void> {
    const { store, lifecycle } = this.deps;
    const candidate = await store.getDeployment(p.to_deployment_id);
    const previous = p.from_deployment_id ? await store.getDeployment(p.from_deployment_id) : undefined;
    if (p.status === 'IN_PROGRESS') {
      if (!p.rolling) return;
      const back = p.phase === 'ROLLING_BACK';
      const [incoming, outgoing] = back ? [previous, candidate] : [candidate, previous];
      const why = `rolling ${back ? 'back from' : 'deploy to'} ${p.environment_name}`;
      if (incoming) await lifecycle.resize(incoming, p.rolling.incoming_target, why);
      if (outgoing) await lifecycle.resize(outgoing, p.rolling.outgoing_target, why);
      return;
    }
    if (p.status === 'SUCCEEDED') {
      if (candidate && p.rolling) await lifecycle.activate(candidate, p.rolling.replicas);
      else if (candidate) await lifecycle.activate(candidate, p.replicas_needed);
      this.switched.emit({ deploymentId: p.to_deployment_id, environment: p.environment_name });
      const previousId = p.from_deployment_id;
      if (previousId) {
        void this.retrying(
          `promotion ${p.id}: cleaning up ${previousId}`,
          () => this.cleanUp(previousId, p),
          1,
          this.deps.switchGraceMs ?? 1000,
        );
      }
      return;
    }
    // CANCELLED or FAILED: the previous deployment takes everything again; a cancelled candidate
    // stops, even mid-start (a failed one stays as it is, for its logs).
    if (previous && p.rolling) await lifecycle.activate(previous, p.rolling.replicas);
    if (candidate && p.status === 'CANCELLED')
      await lifecycle.retire(candidate, `promotion to ${p.environment_name} cancelled`);
  }

  /** What happens to the deployment an environment left, per the promotion's cleanup strategy. */
  private async cleanUp(previousId: string, p: Promotion): Promise<void> {
    const previous = await this.deps.store.getDeployment(previousId);
    if (!previous || p.cleanup_strategy === 'KEEP') return;
    const stillServing = (await this.deps.store.listEnvironments(p.model_id)).some(
      (e) => e.current_deployment_id === previousId,
    );
    if (stillServing) return;
    if (p.cleanup_strategy === 'DEACTIVATE') await this.deps.lifecycle.deactivate(previous);
    else await this.deps.lifecycle.retire(previous, `replaced in ${p.environment_name}`);
  }
}

/** All traffic cannot go to a candidate that is still building (or failed): it would wait for it. */
function checkRollForward(candidate: Deployment | undefined): void {
  if (!candidate || candidate.status === 'BUILDING' || isDown(candidate.status)) {
    throw new PlinthError(
      'CONFLICT',
      `cannot roll forward: the candidate is ${candidate?.status ?? 'deleted'}; wait until it is built and starting`,
    );
  }
}

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
import { isFailed } from '../domain/deployment-status.ts';
import type { Deployment, Environment, Model, Promotion } from '../domain/types.ts';
import type { RuntimeBackend } from '../runtime/backend.ts';
import type { Store } from '../store/store.ts';
import type { Lifecycle } from './lifecycle.ts';
import { cancelledPromotion, stepPromotion } from './promotion-steps.ts';

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
   * from the start, instead of failing because the candidate has none ready yet.
   */
  async recover(): Promise<void> {
    for (const p of await this.deps.store.listPromotions({ status: 'IN_PROGRESS' })) {
      if (p.phase !== 'RAMPING') continue;
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
    if (servesOther) {
      // A deployment serves one environment: promote a fresh deployment of the same bundle.
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
    await store.updateDeployment(candidate.id, { autoscaling_settings: settings });
    candidate = await lifecycle.changeInstanceType(candidate, instanceType);
    if (candidate.status !== 'BUILDING')
      await lifecycle.activate(candidate, Math.max(needed, candidate.desired_replicas));
    const ramp = env.promotion_settings.ramp_up_while_promoting
      ? env.promotion_settings.ramp_up_duration_seconds
      : 0;
    const promotion = await store.createPromotion({
      model_id: model.id,
      environment_id: env.id,
      environment_name: env.name,
      from_deployment_id: env.current_deployment_id,
      to_deployment_id: candidate.id,
      status: 'IN_PROGRESS',
      phase: 'WAITING_FOR_REPLICAS',
      traffic_percent: 0,
      cleanup_strategy: options.preservePrevious ? 'KEEP' : env.promotion_settings.cleanup_strategy,
      ramp_up_duration_seconds: ramp,
      replicas_needed: needed,
      requested_by: options.requestedBy,
      reason: null,
      started_at: new Date(this.now()).toISOString(),
      ramp_started_at: null,
      finished_at: null,
    });
    void this.loop?.kick();
    return promotion;
  }

  async cancel(env: Environment): Promise<Promotion> {
    const inProgress = (
      await this.deps.store.listPromotions({ environment_id: env.id, status: 'IN_PROGRESS' })
    )[0];
    if (!inProgress)
      throw new PlinthError('CONFLICT', `environment ${env.name} has no promotion in progress`);
    const cancelled = await this.deps.store.updatePromotion(
      inProgress.id,
      cancelledPromotion(inProgress, this.now())!,
    );
    this.deps.onRoutingChange();
    const candidate = await this.deps.store.getDeployment(inProgress.to_deployment_id);
    if (candidate) await this.deps.lifecycle.retire(candidate, `promotion to ${env.name} cancelled`);
    return cancelled;
  }

  /** Steps every promotion in progress once; ticks never overlap. */
  tick(): Promise<void> {
    this.running ??= this.stepAll().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async stepAll(): Promise<void> {
    for (const p of await this.deps.store.listPromotions({ status: 'IN_PROGRESS' })) {
      try {
        await this.step(p);
      } catch (err) {
        console.error(`promotion ${p.id}: ${(err as Error).stack ?? String(err)}`);
      }
    }
  }

  private async step(p: Promotion): Promise<void> {
    const { store, backend } = this.deps;
    const candidate = await store.getDeployment(p.to_deployment_id);
    const ready = backend.list(p.to_deployment_id).filter((r) => r.phase === 'READY').length;
    const patch = stepPromotion(p, { nowMs: this.now(), status: candidate?.status, readyReplicas: ready });
    if (!patch) return;
    const updated = await store.transaction(async (tx) => {
      // Re-read inside the transaction: a cancel may have won the race.
      const current = (
        await tx.listPromotions({ environment_id: p.environment_id, status: 'IN_PROGRESS' })
      ).find((x) => x.id === p.id);
      if (!current) return null;
      const next = await tx.updatePromotion(p.id, patch);
      if (next.status === 'SUCCEEDED')
        await tx.updateEnvironment(p.environment_id, { current_deployment_id: p.to_deployment_id });
      return next;
    });
    if (!updated) return;
    this.deps.onRoutingChange();
    if (updated.status === 'SUCCEEDED')
      this.switched.emit({ deploymentId: p.to_deployment_id, environment: p.environment_name });
    if (updated.status === 'SUCCEEDED' && p.from_deployment_id)
      this.scheduleCleanUp(p.from_deployment_id, updated, 1);
  }

  /**
   * Cleans up after the switch grace; a cleanup that fails (the store: a full disk, an outage) is
   * logged and tried again with a doubling wait, never left as an unhandled rejection.
   */
  private scheduleCleanUp(previousId: string, p: Promotion, attempt: number): void {
    const waitMs =
      attempt === 1 ? (this.deps.switchGraceMs ?? 1000) : Math.min(30_000, 1000 * 2 ** (attempt - 2));
    const cancel = this.clock.after(waitMs, () => {
      this.cleanups.delete(cancel);
      this.cleanUp(previousId, p).catch((err: Error) => {
        const again = attempt < CLEANUP_ATTEMPTS && !this.stopped;
        console.error(
          `promotion ${p.id}: cleaning up ${previousId} failed: ${err.message}${again ? '; trying again' : ''}`,
        );
        if (again) this.scheduleCleanUp(previousId, p, attempt + 1);
      });
    });
    this.cleanups.add(cancel);
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

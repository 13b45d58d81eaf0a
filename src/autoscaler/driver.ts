// The thin driver of the autoscaler: every tick it samples each deployment's concurrency (in
// flight + queued, from the gateway), asks the pure policy, and writes the desired replicas.
// It alone owns the clock; a deployment at zero is woken by the gateway, not by a tick, and is not
// read meanwhile: its window starts again when it wakes (as a new deployment's starts when made).
import { systemClock } from '../domain/clock.ts';
import type { Clock } from '../domain/clock.ts';
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import { isAutoscaled, isStopped } from '../domain/deployment-status.ts';
import type { Deployment } from '../domain/types.ts';
import type { LogSink } from '../observability/log-sink.ts';
import type { Store } from '../store/store.ts';
import { ConcurrencyWindows } from './concurrency-windows.ts';
import { decideScale, scaleForQueue } from './policy.ts';
import type { PolicyState, ScaleDecision } from './policy.ts';

/** What the autoscaler reads and writes. */
export type ScaleStore = Pick<
  Store,
  'getDeployment' | 'listDeployments' | 'listPromotions' | 'updateDeployment'
>;

export interface AutoscalerDeps {
  store: ScaleStore;
  /** Takes a deployment to zero replicas (the lifecycle: a status move, not just a count). */
  lifecycle: { scaleToZero(d: Deployment, reason: string): Promise<void> };
  logs: LogSink;
  /** Requests in flight plus queued for a deployment, now. */
  concurrency: (deploymentId: string) => number;
  /** Whether a deployment must keep at least one replica for now (a development watch runs). */
  keptAwake?: (deploymentId: string) => boolean;
  /** The replica count changed: reconcile soon. */
  kick: () => void;
  clock?: Clock;
  /** Where failed ticks are counted (the control-loop metrics). */
  health?: LoopHealth;
}

export class Autoscaler {
  readonly windows = new ConcurrencyWindows();
  private readonly states = new Map<string, PolicyState>();
  private readonly clock: Clock;
  private loop: ControlLoop | null = null;
  /** Deployments whose queue check is under way (one at a time each; more requests coalesce). */
  private readonly queueChecks = new Set<string>();
  /** Ticks and queue checks take turns, so neither writes a replica count the other just read. */
  private turn: Promise<void> = Promise.resolve();

  constructor(private readonly deps: AutoscalerDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /** Ticks every `intervalMs`; a tick that fails (the store) is logged, counted and retried. */
  start(intervalMs = 1000): void {
    this.loop = new ControlLoop(() => this.tick(), {
      name: 'autoscaler',
      intervalMs,
      clock: this.clock,
      health: this.deps.health,
    });
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }

  /** One tick: samples every deployment and applies the policy. Rejects when the store fails. */
  tick(): Promise<void> {
    return this.inTurn(() => this.scaleAll());
  }

  /**
   * A request queued for want of a free slot: scale up now rather than at the next tick. Requests
   * that queue while a check is under way join it.
   */
  onQueued(deploymentId: string): void {
    if (this.queueChecks.has(deploymentId)) return;
    this.queueChecks.add(deploymentId);
    void this.inTurn(() => this.scaleForQueue(deploymentId))
      .catch((err: Error) => console.error(`autoscaler: deployment ${deploymentId}: ${err.message}`))
      .finally(() => this.queueChecks.delete(deploymentId));
  }

  private async scaleForQueue(deploymentId: string): Promise<void> {
    const d = await this.deps.store.getDeployment(deploymentId);
    if (!d || !isAutoscaled(d.status) || d.desired_replicas === 0) return;
    if ((await this.promotionCandidates()).has(d.id)) return;
    const decision = scaleForQueue({
      nowMs: this.clock.now(),
      settings: d.autoscaling_settings,
      concurrency: this.deps.concurrency(d.id),
      current: d.desired_replicas,
      previous: this.states.get(d.id) ?? null,
    });
    if (!decision) return;
    this.states.set(d.id, decision.state);
    await this.apply(d, decision);
  }

  private inTurn(work: () => Promise<void>): Promise<void> {
    const next = this.turn.then(work);
    this.turn = next.catch(() => undefined);
    return next;
  }

  /**
   * A promotion's candidate keeps the replicas the promotion asked for until it is done; so does
   * the previous deployment while a rolling deploy replaces its replicas.
   */
  private async promotionCandidates(): Promise<Set<string>> {
    const inProgress = await this.deps.store.listPromotions({ status: 'IN_PROGRESS' });
    return new Set(
      inProgress.flatMap((p) =>
        p.rolling && p.from_deployment_id ? [p.to_deployment_id, p.from_deployment_id] : [p.to_deployment_id],
      ),
    );
  }

  private async scaleAll(): Promise<void> {
    const nowMs = this.clock.now();
    const candidates = await this.promotionCandidates();
    // Deployments at rest (at zero, inactive, failed) are not read: not autoscaled, nothing to keep.
    const deployments = await this.deps.store.listDeployments({ awake: true });
    this.forgetAllBut(new Set(deployments.filter((d) => !isStopped(d.status)).map((d) => d.id)));
    for (const d of deployments) {
      if (isStopped(d.status)) continue;
      const windowMs = d.autoscaling_settings.autoscaling_window * 1000;
      this.windows.record(d.id, nowMs, this.deps.concurrency(d.id), windowMs);
      if (!isAutoscaled(d.status) || candidates.has(d.id)) continue;
      try {
        await this.scale(d, nowMs);
      } catch (err) {
        console.error(`autoscaler: deployment ${d.id}: ${(err as Error).message}`);
      }
    }
  }

  /** What it keeps per deployment leaves with the deployment (deleted, failed or inactive). */
  private forgetAllBut(live: Set<string>): void {
    for (const id of this.states.keys()) if (!live.has(id)) this.states.delete(id);
    this.windows.retain(live);
  }

  /** How many deployments it keeps state for (for tests: nothing only grows). */
  bookkeeping(): { states: number; windows: number } {
    return { states: this.states.size, windows: this.windows.size };
  }

  private async scale(d: Deployment, nowMs: number): Promise<void> {
    const settings = this.deps.keptAwake?.(d.id)
      ? { ...d.autoscaling_settings, min_replica: Math.max(1, d.autoscaling_settings.min_replica) }
      : d.autoscaling_settings;
    const decision = decideScale({
      nowMs,
      settings,
      samples: this.windows.of(d.id),
      current: d.desired_replicas,
      previous: this.states.get(d.id) ?? null,
    });
    this.states.set(d.id, decision.state);
    if (decision.desired === d.desired_replicas || d.desired_replicas === 0) return;
    await this.apply(d, decision);
  }

  private async apply(d: Deployment, decision: ScaleDecision): Promise<void> {
    this.deps.logs.write(
      { model_id: d.model_id, deployment_id: d.id },
      'platform',
      'INFO',
      `autoscaler: ${d.desired_replicas} → ${decision.desired} replicas (${decision.reason})`,
    );
    if (decision.desired === 0) await this.deps.lifecycle.scaleToZero(d, decision.reason);
    else {
      await this.deps.store.updateDeployment(d.id, { desired_replicas: decision.desired });
      this.deps.kick();
    }
  }
}

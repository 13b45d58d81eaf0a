// The thin driver of the autoscaler: every tick it samples each deployment's concurrency (in
// flight + queued, from the gateway), asks the pure policy, and writes the desired replicas.
// It alone owns the clock; a deployment at zero is woken by the gateway, not by a tick.
import { isFailed } from '../domain/status.ts';
import type { Deployment } from '../domain/types.ts';
import type { LogSink } from '../observability/log-sink.ts';
import type { Lifecycle } from '../reconciler/lifecycle.ts';
import type { Store } from '../store/store.ts';
import { ConcurrencyWindows } from './concurrency-windows.ts';
import { decideScale } from './policy.ts';
import type { PolicyState } from './policy.ts';

/**
 * Statuses in which the autoscaler decides the replica count. Not SCALED_TO_ZERO: a deployment at
 * zero comes back only when a request (or a wake call, or a promotion) asks for it.
 */
const SCALED = new Set(['ACTIVE', 'UNHEALTHY']);

export interface AutoscalerDeps {
  store: Store;
  lifecycle: Lifecycle;
  logs: LogSink;
  /** Requests in flight plus queued for a deployment, now. */
  concurrency: (deploymentId: string) => number;
  /** The replica count changed: reconcile soon. */
  kick: () => void;
  clock?: () => number;
}

export class Autoscaler {
  readonly windows = new ConcurrencyWindows();
  private readonly states = new Map<string, PolicyState>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;

  constructor(private readonly deps: AutoscalerDeps) {}

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  tick(): Promise<void> {
    this.running ??= this.scaleAll().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async scaleAll(): Promise<void> {
    const nowMs = (this.deps.clock ?? Date.now)();
    // A promotion's candidate keeps the replicas the promotion asked for until it is done.
    const candidates = new Set(
      (await this.deps.store.listPromotions({ status: 'IN_PROGRESS' })).map((p) => p.to_deployment_id),
    );
    for (const d of await this.deps.store.listDeployments()) {
      if (isFailed(d.status) || d.status === 'INACTIVE') {
        this.windows.forget(d.id);
        continue;
      }
      this.windows.record(d.id, nowMs, this.deps.concurrency(d.id));
      if (!SCALED.has(d.status) || candidates.has(d.id)) continue;
      try {
        await this.scale(d, nowMs);
      } catch (err) {
        console.error(`autoscaler: deployment ${d.id}: ${(err as Error).message}`);
      }
    }
  }

  private async scale(d: Deployment, nowMs: number): Promise<void> {
    const decision = decideScale({
      nowMs,
      settings: d.autoscaling_settings,
      samples: this.windows.of(d.id),
      current: d.desired_replicas,
      previous: this.states.get(d.id) ?? null,
    });
    this.states.set(d.id, decision.state);
    if (decision.desired === d.desired_replicas || d.desired_replicas === 0) return;
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

// The inactivity loop (`plinth up --deactivate-after-idle`): every so often it reads the
// deployments, their last requests (the store's, and this process's fresher ones) and the
// promotions in progress, asks the pure policy (idle-policy.ts) which have been idle for the
// period, and deactivates those through the lifecycle — the path `POST …/deactivate` takes —
// announcing each with a platform log line and the event's reason. Runs on the leading control plane.
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import type { Deployment } from '../domain/types.ts';
import type { LogSink } from '../observability/log-sink.ts';
import type { Store } from '../store/store.ts';
import { deactivatesWhenIdle, idleDeployments, idleReason, lastStartedMs } from './idle-policy.ts';
import type { IdleCandidate } from './idle-policy.ts';
import type { Lifecycle } from './lifecycle.ts';

export interface IdleDeactivatorDeps {
  store: Pick<Store, 'listDeployments' | 'lastTraffic' | 'listPromotions' | 'listEvents'>;
  lifecycle: Pick<Lifecycle, 'deactivate'>;
  logs: Pick<LogSink, 'write'>;
  /** How long without traffic before a deployment is deactivated, seconds. */
  idleS: number;
  /** The last request this process answered for a deployment (fresher than the store's). */
  recentRequest?: (deploymentId: string) => number | undefined;
  /** Requests in flight plus queued for a deployment now (every gateway's, and async ones waiting). */
  concurrency?: (deploymentId: string) => number;
  /** Whether a `plinth watch` keeps a development deployment awake. */
  keptAwake?: (deploymentId: string) => boolean;
  health?: LoopHealth;
  clock?: () => number;
}

export class IdleDeactivator {
  private loop: ControlLoop | null = null;

  constructor(private readonly deps: IdleDeactivatorDeps) {}

  /** Checks a few times per idle period (at least every second, at most every minute). */
  start(): void {
    const intervalMs = Math.min(60_000, Math.max(1000, (this.deps.idleS * 1000) / 3));
    this.loop = new ControlLoop(async () => void (await this.pass()), {
      name: 'inactivity',
      intervalMs,
      health: this.deps.health,
    });
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }

  /** One check: deactivates the deployments idle at this moment; answers their ids. */
  async pass(): Promise<string[]> {
    const { store, idleS } = this.deps;
    const nowMs = (this.deps.clock ?? Date.now)();
    const deployments = (await store.listDeployments()).filter((d) => deactivatesWhenIdle(d.status));
    if (deployments.length === 0) return [];
    const stored = await store.lastTraffic();
    const promoted = new Set(
      (await store.listPromotions({ status: 'IN_PROGRESS' })).flatMap((p) => [
        p.to_deployment_id,
        ...(p.from_deployment_id ? [p.from_deployment_id] : []),
      ]),
    );
    const candidates = deployments.map((d): IdleCandidate => ({
      id: d.id,
      status: d.status,
      createdMs: Date.parse(d.created_at),
      lastRequestMs: Math.max(stored.get(d.id) ?? 0, this.deps.recentRequest?.(d.id) ?? 0) || null,
      lastStartedMs: null,
      busy: (this.deps.concurrency?.(d.id) ?? 0) > 0,
      inPromotion: promoted.has(d.id),
      keptAwake: this.deps.keptAwake?.(d.id) ?? false,
    }));
    const idleMs = idleS * 1000;
    // Quiet by their requests and creation: only these need their starts looked up.
    const quiet = new Set(idleDeployments({ nowMs, idleMs, candidates }).map((q) => q.id));
    const checked: IdleCandidate[] = [];
    for (const c of candidates) {
      if (quiet.has(c.id)) checked.push({ ...c, lastStartedMs: lastStartedMs(await store.listEvents(c.id)) });
    }
    const byId = new Map(deployments.map((d) => [d.id, d]));
    const done: string[] = [];
    for (const idle of idleDeployments({ nowMs, idleMs, candidates: checked })) {
      if (await this.deactivate(byId.get(idle.id)!, idle.quietSinceMs, nowMs)) done.push(idle.id);
    }
    return done;
  }

  /**
   * Deactivates one idle deployment, unless its status changed since it was read (a promotion or a
   * request woke it); a failure is logged and the others go on.
   */
  private async deactivate(d: Deployment, quietSinceMs: number, nowMs: number): Promise<boolean> {
    const reason = idleReason(this.deps.idleS);
    let after: Deployment;
    try {
      after = await this.deps.lifecycle.deactivate(d, reason, (current) => current.status === d.status);
    } catch (err) {
      console.error(`inactivity: could not deactivate ${d.id}: ${(err as Error).message}`);
      return false;
    }
    if (after.status !== 'DEACTIVATING' || after.status_reason !== reason) return false;
    const quietS = Math.round((nowMs - quietSinceMs) / 1000);
    this.deps.logs.write(
      { model_id: d.model_id, deployment_id: d.id, replica_id: null },
      'platform',
      'INFO',
      `deactivated: ${reason} (quiet for ${quietS} s); activate it to serve again`,
    );
    return true;
  }
}

// Several gateways share the traffic, so the autoscaler scales on the sum of what they all count.
// Each gateway writes its own count per deployment to the store once a second (a zero once, after
// a deployment goes quiet) and reads the others'; reports older than a few seconds, from a gateway
// that died, no longer count.
import { randomBytes } from 'node:crypto';
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import type { Store } from '../store/store.ts';

/** Where gateways leave what they count and read what the others counted. */
export type ConcurrencyLedger = Pick<Store, 'reportConcurrency' | 'listConcurrency'>;

const STALE_MS = 3000;

export class ConcurrencyReports {
  readonly gatewayId: string;
  private others = new Map<string, number>();
  private lastReported = new Set<string>();
  private loop: ControlLoop | null = null;

  constructor(
    private readonly store: ConcurrencyLedger,
    /** This gateway's own count per deployment. */
    private readonly local: () => Map<string, number>,
    name = 'gateway',
    private readonly health?: LoopHealth,
  ) {
    this.gatewayId = `${name}-${randomBytes(4).toString('hex')}`;
  }

  /** What the other gateways count on a deployment. */
  othersOn(deploymentId: string): number {
    return this.others.get(deploymentId) ?? 0;
  }

  async tick(nowMs = Date.now()): Promise<void> {
    const own = this.local();
    const reports = [...own]
      .filter(([id, n]) => n > 0 || this.lastReported.has(id))
      .map(([deployment_id, concurrency]) => ({
        gateway_id: this.gatewayId,
        deployment_id,
        concurrency,
        reported_ms: nowMs,
      }));
    for (const id of this.lastReported) {
      if (!own.has(id))
        reports.push({ gateway_id: this.gatewayId, deployment_id: id, concurrency: 0, reported_ms: nowMs });
    }
    this.lastReported = new Set(reports.filter((r) => r.concurrency > 0).map((r) => r.deployment_id));
    await this.store.reportConcurrency(reports);
    const others = new Map<string, number>();
    for (const r of await this.store.listConcurrency(nowMs - STALE_MS)) {
      if (r.gateway_id === this.gatewayId) continue;
      others.set(r.deployment_id, (others.get(r.deployment_id) ?? 0) + r.concurrency);
    }
    this.others = others;
  }

  /** Reports every `intervalMs`; a report the store refuses is logged, counted and retried. */
  start(intervalMs = 1000): void {
    this.loop = new ControlLoop(() => this.tick(), {
      name: 'concurrency-reports',
      intervalMs,
      health: this.health,
      maxBackoffMs: 5000,
    });
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }
}

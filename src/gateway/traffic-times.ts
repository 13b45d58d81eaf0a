// When each deployment last answered an inference request, as this process's gateway saw it:
// noted in memory on every request (one map write), written to the store every few seconds for
// the deployments that had requests since the last write — never a store write per request — so
// that the inactivity check counts from it across restarts and across gateways.
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import type { Store } from '../store/store.ts';

/** Where the times are kept. */
export type TrafficLedger = Pick<Store, 'recordTraffic'>;

/** How often the times are written (a deployment's at most once per interval). */
export const TRAFFIC_FLUSH_MS = 5000;

export class TrafficTimes {
  private readonly last = new Map<string, number>();
  private pending = new Set<string>();
  private loop: ControlLoop | null = null;

  constructor(
    private readonly store: TrafficLedger,
    private readonly clock: () => number = Date.now,
    private readonly health?: LoopHealth,
  ) {}

  /** A request to the deployment was answered now. */
  note(deploymentId: string): void {
    this.last.set(deploymentId, this.clock());
    this.pending.add(deploymentId);
  }

  /** The last request this process saw answered for a deployment (undefined: none since it started). */
  lastOf(deploymentId: string): number | undefined {
    return this.last.get(deploymentId);
  }

  /** A deleted deployment: nothing more to keep or write for it. */
  forget(deploymentId: string): void {
    this.last.delete(deploymentId);
    this.pending.delete(deploymentId);
  }

  /** Writes the times noted since the last write; kept for the next one when the store refuses. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const ids = [...this.pending];
    this.pending = new Set();
    try {
      await this.store.recordTraffic(
        ids.flatMap((id) => {
          const ms = this.last.get(id);
          return ms === undefined ? [] : [{ deployment_id: id, last_request_ms: ms }];
        }),
      );
    } catch (err) {
      for (const id of ids) if (this.last.has(id)) this.pending.add(id);
      throw err;
    }
  }

  start(intervalMs = TRAFFIC_FLUSH_MS): void {
    this.loop = new ControlLoop(() => this.flush(), {
      name: 'traffic-times',
      intervalMs,
      health: this.health,
    });
    this.loop.start();
  }

  /** Stops writing every interval, and writes what is left. */
  async stop(): Promise<void> {
    await this.loop?.stop();
    await this.flush().catch((err: Error) =>
      console.error(`traffic times: could not store the last requests: ${err.message}`),
    );
  }
}

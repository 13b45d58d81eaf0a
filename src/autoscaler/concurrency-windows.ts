// Concurrency samples per deployment, kept in memory for as long as its autoscaling window (at most
// the longest window allowed): a thousand deployments at the default minute hold a minute each.
import type { ConcurrencySample } from './policy.ts';

/** The longest autoscaling window allowed (3600 s). */
const MAX_KEEP_MS = 3600 * 1000;

export class ConcurrencyWindows {
  private readonly samples = new Map<string, ConcurrencySample[]>();

  /** Adds a sample; those older than `keepMs` (the deployment's window) before it are dropped. */
  record(deploymentId: string, timeMs: number, concurrency: number, keepMs = MAX_KEEP_MS): void {
    let list = this.samples.get(deploymentId);
    if (!list) this.samples.set(deploymentId, (list = []));
    list.push({ timeMs, concurrency });
    const fromMs = timeMs - Math.min(keepMs, MAX_KEEP_MS);
    if (list[0]!.timeMs <= fromMs) {
      const keepFrom = list.findIndex((s) => s.timeMs > fromMs);
      list.splice(0, keepFrom);
    }
  }

  /** Samples held, over every deployment (for tests: memory follows the windows, not the uptime). */
  get sampleCount(): number {
    let n = 0;
    for (const list of this.samples.values()) n += list.length;
    return n;
  }

  of(deploymentId: string): readonly ConcurrencySample[] {
    return this.samples.get(deploymentId) ?? [];
  }

  forget(deploymentId: string): void {
    this.samples.delete(deploymentId);
  }

  /** Keeps the windows of these deployments only. */
  retain(deploymentIds: ReadonlySet<string>): void {
    for (const id of this.samples.keys()) if (!deploymentIds.has(id)) this.samples.delete(id);
  }

  get size(): number {
    return this.samples.size;
  }
}

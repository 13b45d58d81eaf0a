// Concurrency samples per deployment, kept in memory for the longest autoscaling window.
import type { ConcurrencySample } from './policy.ts';

const KEEP_MS = 3600 * 1000;

export class ConcurrencyWindows {
  private readonly samples = new Map<string, ConcurrencySample[]>();

  record(deploymentId: string, timeMs: number, concurrency: number): void {
    let list = this.samples.get(deploymentId);
    if (!list) this.samples.set(deploymentId, (list = []));
    list.push({ timeMs, concurrency });
    if (list.length > 0 && list[0]!.timeMs < timeMs - KEEP_MS) {
      const keepFrom = list.findIndex((s) => s.timeMs >= timeMs - KEEP_MS);
      list.splice(0, keepFrom);
    }
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

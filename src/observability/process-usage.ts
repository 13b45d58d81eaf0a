// CPU and resident memory of replica processes, read from /proc (Linux): CPU as cores used since
// the previous reading of the same process, memory as its resident set.
import { readCpuTicks as readTicks, readRss } from '../runtime/local/proc-stats.ts';

const TICKS_PER_SECOND = 100;

export class ProcessUsage {
  private readonly last = new Map<number, { ticks: number; atMs: number }>();

  /** Cores used since the last call for this pid (null on the first), and resident bytes. */
  read(pid: number, nowMs = Date.now()): { cpuCores: number | null; rssBytes: number } | null {
    const ticks = readTicks(pid);
    const rss = readRss(pid);
    if (ticks === null || rss === null) {
      this.last.delete(pid);
      return null;
    }
    const previous = this.last.get(pid);
    this.last.set(pid, { ticks, atMs: nowMs });
    const cpuCores =
      previous && nowMs > previous.atMs
        ? (ticks - previous.ticks) / TICKS_PER_SECOND / ((nowMs - previous.atMs) / 1000)
        : null;
    return { cpuCores, rssBytes: rss };
  }

  /** Forgets processes not in `alive`. */
  keep(alive: ReadonlySet<number>): void {
    for (const pid of this.last.keys()) if (!alive.has(pid)) this.last.delete(pid);
  }
}

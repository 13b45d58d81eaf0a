// CPU and resident memory of replica processes, read from /proc (Linux): CPU as cores used since
// the previous reading of the same process, memory as its resident set.
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

function readTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return null;
  }
}

function readRss(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

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

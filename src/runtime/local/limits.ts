// Enforcing a replica's instance type on this host, as far as the host allows. Memory: a cgroup v2
// group with memory.max when the cgroup tree is writable, otherwise the replica's resident memory
// is watched and the replica stopped with an out-of-memory reason when it goes over. CPU: cpu.max
// in the same group, otherwise CPU affinity (taskset) to as many cores as the type has. What is
// not enforced is said in `describe()`, which `plinth up` prints.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatMemory } from '../../domain/quantity.ts';
import { readRss } from './proc-stats.ts';
import type { ResourceNeed } from './placement.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';
const RSS_POLL_MS = 200;

export interface LimitsMode {
  memory: 'cgroup' | 'rss';
  cpu: 'cgroup' | 'affinity' | 'none';
}

/** What was enforced on one replica; `stop()` undoes it; `oom()` says whether memory ran out. */
export interface AppliedLimits {
  oom(): string | null;
  stop(): void;
}

/** A writable cgroup v2 directory with the memory and cpu controllers delegated to it, if any. */
function cgroupParent(): string | null {
  try {
    const controllers = readFileSync(join(CGROUP_ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/);
    if (!controllers.includes('memory') || !controllers.includes('cpu')) return null;
    const parent = join(CGROUP_ROOT, `plinth-${process.pid}`);
    mkdirSync(parent, { recursive: true });
    writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory +cpu');
    return parent;
  } catch {
    return null;
  }
}

export class ReplicaLimits {
  private nextCore = 0;

  private constructor(
    readonly mode: LimitsMode,
    private readonly cores: number,
    private readonly cgroups: string | null,
  ) {}

  static detect(
    cores: number,
    hasTaskset = existsSync('/usr/bin/taskset') || existsSync('/bin/taskset'),
  ): ReplicaLimits {
    const cgroups = cgroupParent();
    return new ReplicaLimits(
      { memory: cgroups ? 'cgroup' : 'rss', cpu: cgroups ? 'cgroup' : hasTaskset ? 'affinity' : 'none' },
      cores,
      cgroups,
    );
  }

  describe(): string {
    const memory =
      this.mode.memory === 'cgroup'
        ? 'memory by cgroup v2 memory.max'
        : "memory by watching each replica's resident memory (no writable cgroup v2 here)";
    const cpu =
      this.mode.cpu === 'cgroup'
        ? 'CPU by cgroup v2 cpu.max'
        : this.mode.cpu === 'affinity'
          ? 'CPU by core affinity (taskset)'
          : 'CPU not enforced (no cgroup v2, no taskset)';
    return `${memory}; ${cpu}; GPUs assigned exclusively by CUDA_VISIBLE_DEVICES`;
  }

  apply(replicaId: string, pid: number, need: ResourceNeed, onOom: () => void): AppliedLimits {
    let oom: string | null = null;
    const over = (used: number): string =>
      `out of memory: the replica used ${Math.round(used / 1024 ** 2)}Mi, more than its instance type's ${formatMemory(need.memoryBytes)}`;
    if (this.cgroups) {
      const dir = join(this.cgroups, replicaId);
      try {
        mkdirSync(dir);
        writeFileSync(join(dir, 'memory.max'), String(need.memoryBytes));
        writeFileSync(join(dir, 'cpu.max'), `${need.cpuMillis * 100} 100000`);
        writeFileSync(join(dir, 'cgroup.procs'), String(pid));
      } catch {
        // The group could not take it: the replica runs unconstrained, as on a host without cgroups.
      }
      return {
        oom: () => {
          try {
            const events = readFileSync(join(dir, 'memory.events'), 'utf8');
            if (/oom_kill [1-9]/.test(events)) oom ??= over(need.memoryBytes);
          } catch {
            // gone already
          }
          return oom;
        },
        stop: () => {
          try {
            rmdirSync(dir);
          } catch {
            // still has processes for a moment; the parent is removed with the server
          }
        },
      };
    }
    if (this.mode.cpu === 'affinity') {
      const count = Math.max(1, Math.min(this.cores, Math.ceil(need.cpuMillis / 1000)));
      const list = Array.from({ length: count }, (_, i) => (this.nextCore + i) % this.cores);
      this.nextCore = (this.nextCore + count) % this.cores;
      if (count < this.cores)
        execFile('taskset', ['-a', '-p', '-c', list.join(','), String(pid)], () => undefined);
    }
    const timer = setInterval(() => {
      const rss = readRss(pid);
      if (rss !== null && rss > need.memoryBytes && oom === null) {
        oom = over(rss);
        onOom();
      }
    }, RSS_POLL_MS);
    timer.unref();
    return { oom: () => oom, stop: () => clearInterval(timer) };
  }
}

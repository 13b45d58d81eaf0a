// Placement on one machine: a replica is placed only if its instance type fits what is left.
// GPUs are assigned exclusively (whole devices, by index); memory is reserved; CPU is shared (a
// replica may not ask for more cores than the host has, but cores are not reserved: the limit is
// enforced per replica where the host allows). Stopped replicas give back what they held.
import { formatMemory } from '../../domain/quantity.ts';
import type { Accelerator } from '../../domain/quantity.ts';
import type { Capacity } from '../backend.ts';

export interface ResourceNeed {
  cpuMillis: number;
  memoryBytes: number;
  accelerator: Accelerator | null;
}

export type Placement = { ok: true; gpus: number[] } | { ok: false; reason: string };

interface Held {
  memoryBytes: number;
  gpus: number[];
}

export class Inventory {
  private readonly held = new Map<string, Held>();

  constructor(readonly capacity: Capacity) {}

  /** Reserves what `need` asks for under `replicaId`, or says what is missing. */
  place(replicaId: string, need: ResourceNeed): Placement {
    if (need.cpuMillis > this.capacity.cpu * 1000) {
      return { ok: false, reason: `needs ${need.cpuMillis / 1000} CPUs, the host has ${this.capacity.cpu}` };
    }
    const usedMemory = [...this.held.values()].reduce((sum, h) => sum + h.memoryBytes, 0);
    const freeMemory = this.capacity.memoryBytes - usedMemory;
    if (need.memoryBytes > freeMemory) {
      return {
        ok: false,
        reason: `needs ${formatMemory(need.memoryBytes)} memory, ${formatMemory(Math.max(0, freeMemory))} of ${formatMemory(this.capacity.memoryBytes)} free`,
      };
    }
    let gpus: number[] = [];
    if (need.accelerator) {
      const { kind, count } = need.accelerator;
      const taken = new Set([...this.held.values()].flatMap((h) => h.gpus));
      const ofKind = this.capacity.gpus.filter((g) => g.kind === kind);
      const free = ofKind.filter((g) => !taken.has(g.index));
      if (free.length < count) {
        return { ok: false, reason: `needs ${count}× ${kind}, ${free.length} of ${ofKind.length} free` };
      }
      gpus = free.slice(0, count).map((g) => g.index);
    }
    this.held.set(replicaId, { memoryBytes: need.memoryBytes, gpus });
    return { ok: true, gpus };
  }

  /** Records what a replica adopted from an earlier server already holds (it was placed then). */
  hold(replicaId: string, need: ResourceNeed, gpus: number[]): void {
    this.held.set(replicaId, { memoryBytes: need.memoryBytes, gpus });
  }

  release(replicaId: string): void {
    this.held.delete(replicaId);
  }

  /** GPUs held by replicas, by index. */
  gpusInUse(): number[] {
    return [...this.held.values()].flatMap((h) => h.gpus).sort((a, b) => a - b);
  }
}

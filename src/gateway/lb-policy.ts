// Load-balancing policy: the least-loaded ready replica with a free slot. A plain function over
// in-flight counts; ties rotate so equal replicas share the load. Pure apart from its rotation.

/** A replica that can take requests, as the runtime backend or the store lists it. */
export interface ReadyReplica {
  id: string;
  address: string;
  /** What its model server wants in x-plinth-replica-token, where it wants one. */
  token?: string | null;
}

export interface ReplicaSlot extends ReadyReplica {
  inFlight: number;
  capacity: number;
}

export type LbPolicy = (replicas: readonly ReplicaSlot[]) => ReplicaSlot | undefined;

export function makeLeastLoaded(): LbPolicy {
  let turn = 0;
  return (replicas) => {
    let best: ReplicaSlot | undefined;
    const n = replicas.length;
    turn = (turn + 1) % Math.max(1, n);
    for (let k = 0; k < n; k++) {
      const r = replicas[(turn + k) % n]!;
      if (r.inFlight >= r.capacity) continue;
      if (!best || r.inFlight < best.inFlight) best = r;
    }
    return best;
  };
}

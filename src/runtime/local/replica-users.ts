// The unprivileged users replicas run as when the server runs as root: one per deployment while it
// has replicas, uid = gid = REPLICA_UID_BASE + slot, numeric only (no passwd entry; nothing is
// added to the host). The slot is a hash of the deployment id, moved on past slots other running
// deployments hold, so that a deployment mostly keeps its uid from one start to the next (its
// replica home keeps its owner) and no two running deployments ever share one: a replica can
// neither signal nor read /proc of another deployment's replicas.
import { createHash } from 'node:crypto';

/** 0x70000000: a range no distribution allocates (systemd leaves 0x70000000–0x7FFEFFFF unused). */
export const REPLICA_UID_BASE = 0x7000_0000;
export const REPLICA_UID_SLOTS = 0x1_0000;

export class ReplicaUsers {
  /** replica id → (deployment id, uid) of every running replica. */
  private readonly held = new Map<string, { deploymentId: string; uid: number }>();

  /** The uid a new replica of `deploymentId` runs as. */
  uidFor(deploymentId: string): number {
    const taken = new Map<number, string>();
    for (const h of this.held.values()) {
      if (h.deploymentId === deploymentId) return h.uid;
      taken.set(h.uid, h.deploymentId);
    }
    const first = createHash('sha256').update(deploymentId).digest().readUInt32BE(0) % REPLICA_UID_SLOTS;
    for (let i = 0; i < REPLICA_UID_SLOTS; i++) {
      const uid = REPLICA_UID_BASE + ((first + i) % REPLICA_UID_SLOTS);
      if (!taken.has(uid)) return uid;
    }
    throw new Error('no replica uid left: more deployments run than there are replica users');
  }

  hold(replicaId: string, deploymentId: string, uid: number): void {
    this.held.set(replicaId, { deploymentId, uid });
  }

  /** Lets a replica's uid go; answers its deployment when that was its last running replica. */
  release(replicaId: string): string | null {
    const held = this.held.get(replicaId);
    this.held.delete(replicaId);
    if (!held) return null;
    for (const h of this.held.values()) if (h.deploymentId === held.deploymentId) return null;
    return held.deploymentId;
  }
}

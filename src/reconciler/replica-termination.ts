// Terminating one replica on request (a user's DELETE …/replicas/{r}): it is drained and stopped
// by the ReplicaStopper, as the reconciler stops replicas — the gateway stops choosing it, the
// requests already on it finish, then the backend ends it — and the reconciler, kicked, sees one
// live replica fewer than desired and starts a replacement (new while the old one drains).
// Parked requests wait for a ready replica as always: a termination never fails a request.
// Asking again answers the replica's state. Knows nothing of HTTP; expected outcomes are values.
import { PlinthError } from '../domain/errors.ts';
import type { Deployment, ReplicaRecord } from '../domain/types.ts';
import type { LogSink } from '../observability/log-sink.ts';
import type { ReplicaHandle, RuntimeBackend } from '../runtime/backend.ts';
import type { Store } from '../store/store.ts';
import { replicaRecord } from './replica-stopper.ts';
import type { ReplicaStopper } from './replica-stopper.ts';

export interface ReplicaTerminationDeps {
  store: Pick<Store, 'listReplicas'>;
  backend: Pick<RuntimeBackend, 'list'>;
  stopper: Pick<ReplicaStopper, 'stop'>;
  logs: Pick<LogSink, 'write'>;
  /** Asks the reconciler for a pass soon (the replacement). */
  kick: () => void;
}

/**
 * What became of the replica: `stopping` (DRAINING, now or already: it runs until its requests
 * are done; `live` while this backend still lists it) or `ended` (STOPPED or FAILED already).
 */
export interface Termination {
  outcome: 'stopping' | 'ended';
  record: ReplicaRecord;
  live?: ReplicaHandle;
  /** Whether this request began the drain (false: it was already stopping, or over). */
  startedNow: boolean;
}

export class ReplicaTermination {
  constructor(private readonly deps: ReplicaTerminationDeps) {}

  /** Drains and stops `replicaId` of `d`; throws REPLICA_NOT_FOUND when `d` has no such replica. */
  async terminate(d: Deployment, replicaId: string, requestedBy: string): Promise<Termination> {
    const live = this.liveReplica(d.id, replicaId);
    if (live) {
      const startedNow = live.phase === 'STARTING' || live.phase === 'READY';
      if (startedNow) this.begin(d, live, requestedBy);
      // Both backends mark the replica DRAINING before stop() first waits.
      const now = this.liveReplica(d.id, replicaId) ?? { ...live, phase: 'DRAINING' as const };
      return { outcome: 'stopping', record: replicaRecord(now), live: now, startedNow };
    }
    const record = (await this.deps.store.listReplicas({ deployment_id: d.id })).find(
      (r) => r.id === replicaId,
    );
    if (!record) {
      throw new PlinthError(
        'REPLICA_NOT_FOUND',
        `deployment ${d.name} (${d.id}) has no replica ${replicaId}`,
      );
    }
    if (record.status === 'STOPPED' || record.status === 'FAILED')
      return { outcome: 'ended', record, startedNow: false };
    // It has just exited: the store hears of it a moment later.
    if (record.status === 'DRAINING') return { outcome: 'stopping', record, startedNow: false };
    // Live in the store, unknown to this process's backend: another control plane runs it.
    throw new PlinthError(
      'CONFLICT',
      `replica ${replicaId} is run by another control plane (the one leading); ask its API to terminate it`,
    );
  }

  private liveReplica(deploymentId: string, replicaId: string): ReplicaHandle | undefined {
    return this.deps.backend.list(deploymentId).find((r) => r.id === replicaId);
  }

  private begin(d: Deployment, replica: ReplicaHandle, requestedBy: string): void {
    this.deps.logs.write(
      { model_id: d.model_id, deployment_id: d.id, replica_id: replica.id },
      'platform',
      'INFO',
      `replica ${replica.id} terminated by API key "${requestedBy}": draining (a replacement starts if the deployment still wants it)`,
    );
    void this.deps.stopper
      .stop(replica)
      .catch((err: Error) => console.error(`terminating replica ${replica.id}: ${err.message}`));
    this.deps.kick();
  }
}

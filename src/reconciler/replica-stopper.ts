// How a replica is stopped without failing a request: the gateway stops choosing it and tells when
// the requests it sent there are done; the runtime backend marks it DRAINING (every gateway stops
// routing to it), waits for that word within the drain time, then stops it (SIGTERM, or a pod
// deleted with a grace period). The runtime knows nothing of the gateway: it gets a promise.
// Where other processes route from the store (gateways, following control planes on PostgreSQL),
// the word also waits until they have read the DRAINING mark (`routesSettleMs`): before, one of
// them could send a request to a replica that was already exiting.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReplicaRecord } from '../domain/types.ts';
import type { ReplicaHandle, RuntimeBackend } from '../runtime/backend.ts';

/** The gateway, as far as stopping replicas goes. */
export interface Drainer {
  /** Stops routing to the replica; resolves once its requests are done, or after `timeoutMs`. */
  drained(deploymentId: string, replicaId: string, timeoutMs: number): Promise<void>;
}

export interface ReplicaStopperDeps {
  backend: Pick<RuntimeBackend, 'stop' | 'list'>;
  drainer: Drainer;
  /** How long a stopping replica may take to finish its requests. */
  drainMs: number;
  /** How long processes that read routes from the store take to stop routing to a DRAINING replica (0: none do). */
  routesSettleMs?: number;
}

/** A replica as the store records it. */
export function replicaRecord(handle: ReplicaHandle, nowIso = new Date().toISOString()): ReplicaRecord {
  return {
    id: handle.id,
    deployment_id: handle.deploymentId,
    status: handle.phase,
    address: handle.address,
    started_at: new Date(handle.startedAtMs).toISOString(),
    stopped_at: handle.exit ? nowIso : null,
    exit_reason: handle.exit?.reason ?? null,
    revision: handle.revision,
    token: handle.token ?? null,
  };
}

export class ReplicaStopper {
  constructor(private readonly deps: ReplicaStopperDeps) {}

  /** Drains and stops a replica; resolves once it has exited. Errors are the backend's. */
  async stop(
    replica: Pick<ReplicaHandle, 'id' | 'deploymentId'>,
    drainMs = this.deps.drainMs,
  ): Promise<void> {
    const here = this.deps.drainer.drained(replica.deploymentId, replica.id, drainMs);
    const settleMs = Math.min(this.deps.routesSettleMs ?? 0, drainMs);
    const drained = settleMs > 0 ? Promise.all([here, sleep(settleMs)]).then(() => undefined) : here;
    await this.deps.backend.stop(replica.id, { drainMs, drained });
  }

  /** Stops every replica of a deployment. */
  async stopAll(deploymentId: string, drainMs = this.deps.drainMs): Promise<void> {
    await Promise.all(this.deps.backend.list(deploymentId).map((r) => this.stop(r, drainMs)));
  }
}

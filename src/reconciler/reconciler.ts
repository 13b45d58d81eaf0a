// The reconcile loop: for each deployment, desired replicas (store) vs actual (runtime backend) →
// a plan → executed; then the deployment's status follows what the replicas do. Crashed replicas
// are restarted with backoff; repeated load failures end in DEPLOY_FAILED or UNHEALTHY.
// Each pass is idempotent, and one failing deployment never stops the others.
import { currentBuild } from '../builder/build-record.ts';
import { systemClock } from '../domain/clock.ts';
import type { Clock } from '../domain/clock.ts';
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import { keepsReplicas } from '../domain/deployment-status.ts';
import type { Deployment } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';
import type { LogSink } from '../observability/log-sink.ts';
import { customServerOf } from '../domain/custom-server.ts';
import { PendingError } from '../runtime/backend.ts';
import type { ReplicaEvent, ReplicaHandle, RuntimeBackend } from '../runtime/backend.ts';
import type { StatusRecorder } from '../store/status-recorder.ts';
import type { Store } from '../store/store.ts';
import { planReplicas, restartBackoffMs } from './plan.ts';
import { replicaRecord } from './replica-stopper.ts';
import type { ReplicaStopper } from './replica-stopper.ts';
import {
  declaredSecrets,
  environmentOf,
  instanceTypeOf,
  missingSecretsReason,
  replicaSpec,
} from './replica-spec.ts';
import type { InstanceType } from '../domain/instance-types.ts';
import { nextStatus } from './status-rules.ts';

/** What the reconciler reads of deployments and records of replicas. */
export type ReplicaLedger = Pick<
  Store,
  | 'getDeployment'
  | 'listDeployments'
  | 'updateDeployment'
  | 'listReplicas'
  | 'upsertReplica'
  | 'listEnvironments'
  | 'listPromotions'
>;

interface FailureRecord {
  count: number;
  last: string | null;
  notBeforeMs: number;
}

export interface ReconcilerDeps {
  store: ReplicaLedger;
  backend: RuntimeBackend;
  home: PlinthHome;
  status: StatusRecorder;
  logs: LogSink;
  /** Drains replicas before the backend stops them. */
  stopper: ReplicaStopper;
  /** Requests the gateway has in flight on a replica (idle replicas are stopped first). */
  inFlightOf?: (deploymentId: string, replicaId: string) => number;
  instanceTypes: readonly InstanceType[];
  /** The values of the secrets a config declares, and the names that have none. */
  secrets: (declared: Record<string, string | null>) => { values: Record<string, string>; missing: string[] };
  clock?: Clock;
  /** Where failed passes are counted (the control-loop metrics). */
  health?: LoopHealth;
}

export class Reconciler {
  private readonly deps: ReconcilerDeps;
  private readonly failures = new Map<string, FailureRecord>();
  /** Why a deployment's next replica does not fit, while it waits. */
  private readonly pending = new Map<string, string>();
  private readonly pendingListeners = new Set<(deploymentId: string, reason: string) => void>();
  private loop: ControlLoop | null = null;
  private readonly clock: Clock;
  private readonly unwatch: () => void;

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
    this.unwatch = deps.backend.watch((e) => void this.onReplicaEvent(e));
  }

  /** Reconciles every `intervalMs` and whenever kicked; a pass that fails (the store) is retried. */
  async start(intervalMs = 1000): Promise<void> {
    await this.forgetLostReplicas();
    this.loop = new ControlLoop(() => this.pass(), {
      name: 'reconciler',
      intervalMs,
      clock: this.clock,
      health: this.deps.health,
    });
    this.loop.start();
  }

  /** Replicas the store remembers as live but the backend does not know were lost with a restart. */
  private async forgetLostReplicas(): Promise<void> {
    const live = new Set(this.deps.backend.list().map((r) => r.id));
    for (const record of await this.deps.store.listReplicas({ live: true })) {
      if (live.has(record.id)) continue;
      await this.deps.store.upsertReplica({
        ...record,
        status: 'STOPPED',
        stopped_at: new Date().toISOString(),
        exit_reason: 'lost when the Plinth server restarted',
      });
    }
  }

  async stop(): Promise<void> {
    this.unwatch();
    await this.loop?.stop();
  }

  /**
   * Asks for a pass soon; passes never overlap, and a kick during one runs another after it. Not
   * before start(): a control plane that follows another one reconciles nothing. Never rejects.
   */
  kick(): Promise<void> {
    return this.loop?.kick() ?? Promise.resolve();
  }

  private async pass(): Promise<void> {
    // Deployments at rest (at zero, inactive, failed) with no replica, wanting none, have nothing
    // to reconcile: only the others are read, and those the backend still runs replicas of.
    const awake = await this.deps.store.listDeployments({ awake: true });
    const read = new Set(awake.map((d) => d.id));
    const running = [...new Set(this.deps.backend.list().map((r) => r.deploymentId))];
    const resting = await this.deps.store.listDeployments({ ids: running.filter((id) => !read.has(id)) });
    const deployments = [...awake, ...resting];
    const known = new Set(deployments.map((d) => d.id));
    // What it keeps per deployment leaves with the deployment, or when it comes to rest.
    for (const map of [this.failures, this.pending])
      for (const id of map.keys()) if (!known.has(id)) map.delete(id);
    for (const d of deployments) {
      try {
        await this.reconcile(d);
      } catch (err) {
        console.error(`reconciler: deployment ${d.id}: ${(err as Error).stack ?? String(err)}`);
      }
    }
    // Replicas of deployments that are gone (not those already being stopped): every deployment
    // the backend runs replicas of was read above.
    for (const orphan of this.deps.backend
      .list()
      .filter((r) => !known.has(r.deploymentId) && r.phase !== 'DRAINING')) {
      void this.stopReplica(orphan);
    }
  }

  private async reconcile(d: Deployment): Promise<void> {
    const desired = keepsReplicas(d.status) ? d.desired_replicas : 0;
    const replicas = this.deps.backend.list(d.id).map((r) => ({
      ...r,
      inFlight: this.deps.inFlightOf?.(d.id, r.id) ?? 0,
      outdated: r.revision !== d.revision,
    }));
    const failure = this.failures.get(d.id);
    const server = customServerOf(d.config);
    const actions = planReplicas({
      desired,
      replicas,
      startNotBeforeMs: failure?.notBeforeMs ?? 0,
      nowMs: this.clock.now(),
      oneAtATime: this.deps.backend.name === 'local' && server !== null && !server.perReplicaPort,
    });
    if (!actions.some((a) => a.type === 'start')) this.pending.delete(d.id);
    let placed = true;
    for (const action of actions) {
      if (action.type === 'start' && placed) placed = await this.startReplica(d);
      else if (action.type === 'stop') void this.stopReplica({ id: action.replicaId, deploymentId: d.id });
    }

    const decision = nextStatus({
      status: d.status,
      desired,
      phases: this.deps.backend.list(d.id).map((r) => r.phase),
      hasServed: d.has_served,
      consecutiveFailures: failure?.count ?? 0,
      lastFailure: failure?.last ?? null,
    });
    if (decision) {
      const patch = decision.status === 'DEPLOY_FAILED' ? { desired_replicas: 0 } : {};
      // Refused when another writer moved it meanwhile: the next pass decides again.
      const outcome = await this.deps.status.move(d, decision.status, decision.reason, patch);
      if (outcome.moved && (decision.status === 'DEPLOY_FAILED' || decision.status === 'UNHEALTHY')) {
        this.deps.logs.write(
          { model_id: d.model_id, deployment_id: d.id },
          'platform',
          'ERROR',
          `${decision.status}: ${decision.reason}`,
        );
      }
    }
  }

  /** Starts a replica; false when it does not fit on the machine now (the deployment says why). */
  private async startReplica(d: Deployment): Promise<boolean> {
    const build = currentBuild(d, this.deps.home);
    if (!build) {
      // Taken to zero and woken before its build was done: the build loop finishes it, then kicks.
      await this.recordPending(d, 'its build is not finished yet');
      return false;
    }
    const secrets = this.deps.secrets(declaredSecrets(d));
    // As Truss: a declared secret nobody set is the model's to miss (its default, null), not a
    // reason to refuse the start; the log says which and how to set it.
    if (secrets.missing.length > 0)
      this.deps.logs.write(
        { model_id: d.model_id, deployment_id: d.id },
        'platform',
        'WARNING',
        `${missingSecretsReason(secrets.missing)} (the model starts without ${secrets.missing.length > 1 ? 'them' : 'it'})`,
      );
    let handle: ReplicaHandle;
    try {
      handle = await this.deps.backend.start(
        replicaSpec(
          d,
          build,
          instanceTypeOf(d, this.deps.instanceTypes),
          secrets.values,
          await environmentOf(this.deps.store, d),
        ),
      );
    } catch (err) {
      if (!(err instanceof PendingError)) throw err;
      await this.recordPending(d, err.reason);
      return false;
    }
    this.pending.delete(d.id);
    await this.saveReplica(handle);
    this.deps.logs.write(
      { model_id: d.model_id, deployment_id: d.id, replica_id: handle.id },
      'platform',
      'INFO',
      `replica ${handle.id} starting`,
    );
    return true;
  }

  /** A replica waits for capacity: its reason goes to the status (an event) and the logs, once. */
  private async recordPending(d: Deployment, reason: string): Promise<void> {
    for (const listener of this.pendingListeners) listener(d.id, reason);
    if (this.pending.get(d.id) === reason) return;
    const why = `waiting for capacity: ${reason}`;
    // The reason is recorded with whatever status the deployment has now.
    const noted = await this.deps.status.moveCurrent(d.id, (current) => ({
      to: current.status,
      reason: why,
    }));
    if (!noted?.moved) return;
    this.pending.set(d.id, reason);
    this.deps.logs.write({ model_id: d.model_id, deployment_id: d.id }, 'platform', 'WARNING', why);
  }

  private async saveReplica(handle: ReplicaHandle): Promise<void> {
    await this.deps.store.upsertReplica(replicaRecord(handle));
  }

  private stopReplica(replica: Pick<ReplicaHandle, 'id' | 'deploymentId'>): Promise<void> {
    return this.deps.stopper
      .stop(replica)
      .catch((err: Error) => console.error(`reconciler: stopping replica ${replica.id}: ${err.message}`));
  }

  private async onReplicaEvent(event: ReplicaEvent): Promise<void> {
    const { replica } = event;
    try {
      const d = await this.deps.store.getDeployment(replica.deploymentId);
      if (!d) return;
      await this.saveReplica(replica);
      const target = { model_id: d.model_id, deployment_id: d.id, replica_id: replica.id };
      if (event.type === 'ready') {
        this.failures.delete(d.id);
        if (!d.has_served) await this.deps.store.updateDeployment(d.id, { has_served: true });
        this.deps.logs.write(target, 'platform', 'INFO', `replica ${replica.id} ready at ${replica.address}`);
      } else if (event.type === 'pending') {
        await this.recordPending(d, event.reason);
      } else if (event.type === 'unready') {
        this.deps.logs.write(target, 'platform', 'WARNING', `replica ${replica.id}: ${event.reason}`);
      } else if (event.type === 'exited' && !event.exit.expected && triedPatch(d, replica)) {
        // A development patch's new code failed to load: the patch reports it and reverts; the
        // serving replica is unaffected. Only wait a moment before starting another.
        const previous = this.failures.get(d.id);
        this.failures.set(d.id, {
          count: previous?.count ?? 0,
          last: previous?.last ?? null,
          notBeforeMs: this.clock.now() + restartBackoffMs(1),
        });
      } else if (event.type === 'exited' && !event.exit.expected) {
        const previous = this.failures.get(d.id);
        const count = (previous?.count ?? 0) + 1;
        this.failures.set(d.id, {
          count,
          last: event.exit.reason,
          notBeforeMs: this.clock.now() + restartBackoffMs(count),
        });
        this.deps.logs.write(
          target,
          'platform',
          'ERROR',
          `replica ${replica.id} failed: ${event.exit.reason}`,
        );
      }
    } catch (err) {
      console.error(`reconciler: replica event: ${(err as Error).message}`);
    }
    void this.kick();
  }

  /** How many deployments it keeps failures and waits for (for tests: nothing only grows). */
  bookkeeping(): { failures: number; pending: number } {
    return { failures: this.failures.size, pending: this.pending.size };
  }

  /** Hears each time a deployment's next replica cannot be placed, and why. */
  onPending(listener: (deploymentId: string, reason: string) => void): () => void {
    this.pendingListeners.add(listener);
    return () => this.pendingListeners.delete(listener);
  }

  /** Forgets failure history, e.g. when a user retries a deployment. */
  resetFailures(deploymentId: string): void {
    this.failures.delete(deploymentId);
  }
}

/** A replica running a development patch's new code (or code a failed patch reverted). */
function triedPatch(d: Deployment, replica: ReplicaHandle): boolean {
  return (d.status === 'UPDATING' && replica.revision === d.revision) || replica.revision > d.revision;
}

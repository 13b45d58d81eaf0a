// The kubernetes RuntimeBackend: a model deployment's replicas are the pods of one apps/v1
// Deployment (a group, named by its pod template's hash), whose replica count this backend sets to
// the number of replicas the reconciler wants. Pods are followed by an informer (pod-informer.ts);
// a level-triggered, per-group `sync` reads them and the replicas wanted, and applies what
// pod-claims.ts decides: which waiting replica takes which pod (its id written on the pod, so that
// the next control plane adopts it), the lowest deletion cost on a stopping replica's pod (so the
// scale-down removes that very pod), the Deployment's replica count. A stop drains, then deletes
// the pod with the rest of the drain as its grace period. Pod failures become replica exits and
// waits in plain words (pod-state.ts). Closing forgets but deletes nothing: pods outlive the control
// plane. Knows nothing of HTTP routes or the store.
import type { KubeConfig, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type {
  Capacity,
  ReplicaEvent,
  ReplicaExit,
  ReplicaHandle,
  ReplicaSpec,
  StopRequest,
  RuntimeBackend,
} from '../backend.ts';
import { waitDrained } from '../drain-wait.ts';
import { ClusterClient } from './cluster-client.ts';
import {
  LABELS,
  MANAGED_BY,
  MODEL_CONTAINER,
  deploymentManifest,
  envSecret,
  secretFilesSecret,
} from './manifests.ts';
import type { ManifestOptions } from './manifests.ts';
import { adoptable, claimPods, groupsWithUnboundPods } from './pod-claims.ts';
import { PodInformer } from './pod-informer.ts';
import type { PodEventType } from './pod-informer.ts';
import { followModelOutput } from './pod-logs.ts';
import { ReplicaBook } from './replica-book.ts';
import { podOf } from './replica-state.ts';
import type { Replica } from './replica-state.ts';
import { SerialRuns } from './serial-runs.ts';

export interface KubernetesBackendOptions extends Omit<
  ManifestOptions,
  'artifacts' | 'port' | 'preStopSeconds' | 'drainSeconds' | 'gpuNodeLabel'
> {
  kubeConfig: KubeConfig;
  /** The control plane's URLs for a replica's build and prepared environment. */
  artifacts: (spec: ReplicaSpec) => ManifestOptions['artifacts'];
  port?: number;
  preStopSeconds?: number;
  drainSeconds?: number;
  gpuNodeLabel?: string;
  /** The PersistentVolumeClaim pods share as their weights cache. */
  weightsCacheClaim?: string;
  /** What a replica's model prints (its pod's model container, followed through the API). */
  onLog?: (
    replica: { modelId: string; deploymentId: string; replicaId: string },
    line: string,
    requestId: string | null,
  ) => void;
  readinessIntervalMs?: number;
}

export class KubernetesBackend implements RuntimeBackend {
  readonly name = 'kubernetes';
  private readonly cluster: ClusterClient;
  private readonly informer: PodInformer;
  private readonly book: ReplicaBook;
  /** Deployments a start wants created if missing, by group; gone once created (or not wanted). */
  private readonly creates = new Map<string, V1Deployment>();
  private readonly syncs = new SerialRuns<string>(
    (group) => this.sync(group),
    (group) => this.tidy(group),
  );
  private cap: Capacity = { cpu: 0, memoryBytes: 0, gpus: [] };
  /** Closed: this control plane no longer acts on the cluster (the next one adopts its pods). */
  private closed = false;
  private adopting: Promise<ReplicaHandle[]> | null = null;
  private readonly port: number;
  private readonly preStopSeconds: number;
  private readonly drainSeconds: number;
  private readonly gpuNodeLabel: string;

  constructor(private readonly options: KubernetesBackendOptions) {
    this.port = options.port ?? 8080;
    this.preStopSeconds = options.preStopSeconds ?? 5;
    this.drainSeconds = options.drainSeconds ?? 30;
    this.gpuNodeLabel = options.gpuNodeLabel ?? 'plinth.dev/accelerator';
    this.cluster = new ClusterClient(options.kubeConfig, options.namespace);
    this.informer = new PodInformer({
      kubeConfig: options.kubeConfig,
      namespace: options.namespace,
      labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
      onEvent: (type, pod) => this.onPod(type, pod),
    });
    this.book = new ReplicaBook({
      port: this.port,
      readinessIntervalMs: options.readinessIntervalMs ?? 25,
      onFailed: (replica, exit) => void this.remove(replica, 0, exit),
      follow: options.onLog ? (replica, pod) => this.followLogs(replica, pod) : null,
      onForget: (replica) => this.tidy(replica.group),
    });
  }

  get kubeConfig(): KubeConfig {
    return this.options.kubeConfig;
  }

  get namespace(): string {
    return this.options.namespace;
  }

  capacity(): Capacity {
    return this.cap;
  }

  describe(): string {
    return `Replicas: pods in namespace "${this.options.namespace}" of the Kubernetes cluster at ${this.options.kubeConfig.getCurrentCluster()?.server ?? '(in-cluster)'}; instance types are their requests and limits`;
  }

  /**
   * Reads the cluster: its nodes (capacity) and the pods this platform left there, which are taken
   * on by the replica ids written on them; then follows pods. Call before the first start. One that
   * failed is tried again by the next call.
   */
  adopt(): Promise<ReplicaHandle[]> {
    this.adopting ??= this.takeOver().catch((err: unknown) => {
      this.adopting = null;
      throw err;
    });
    return this.adopting;
  }

  async start(spec: ReplicaSpec): Promise<ReplicaHandle> {
    await this.adopt();
    const manifest = this.manifestOptions(spec);
    const deployment = deploymentManifest(spec, manifest, 0);
    const group = deployment.metadata!.name!;
    await this.cluster.applySecret(envSecret(spec, manifest));
    if (spec.server) await this.cluster.applySecret(secretFilesSecret(spec, manifest));
    const { replicaId: id, deploymentId, resources, revision } = spec;
    const replica = this.book.add(
      { id, deploymentId, instanceType: resources.instanceType, revision, startedAtMs: Date.now() },
      group,
      spec.modelId,
    );
    this.creates.set(group, deployment);
    try {
      await this.syncs.request(group);
    } catch (err) {
      // A stop that came meanwhile reports its exit; else the replica never was.
      if (replica.state.kind === 'claiming' || replica.state.kind === 'bound') this.book.forget(replica);
      throw err;
    }
    return { ...replica.handle };
  }

  async stop(replicaId: string, { drainMs, drained }: StopRequest): Promise<void> {
    const replica = this.book.get(replicaId);
    if (!replica) return;
    if (replica.state.kind === 'claiming' || replica.state.kind === 'bound') {
      this.book.stopAsked(replica);
      const { handle } = replica;
      const left = await waitDrained(drained, drainMs, replica.exited);
      // The pod finishes what it still has within its grace period.
      const graceSeconds = this.preStopSeconds + Math.max(1, Math.ceil(left / 1000));
      await this.remove(replica, graceSeconds, {
        code: null,
        signal: null,
        expected: true,
        reason: 'stopped by the platform',
        wasReady: handle.readyAtMs !== null,
      });
    }
    await replica.exited;
  }

  list(deploymentId?: string): ReplicaHandle[] {
    return this.book.handles(deploymentId);
  }

  watch(listener: (event: ReplicaEvent) => void): () => void {
    return this.book.watch(listener);
  }

  /**
   * Stops following pods and their output, and forgets its replicas; deletes nothing, so that the
   * next control plane adopts the pods as they are (a rolling restart starts no model cold).
   */
  async close(): Promise<void> {
    // From now on nothing is synced, scaled, annotated or deleted: a stop waiting on a drain
    // returns without touching the cluster, and an emptied book never decides a deletion.
    this.closed = true;
    this.informer.close();
    this.book.close();
    this.creates.clear();
    await this.syncs.settled();
  }

  /** How many entries it keeps per replica, per group and per pod (all of them go when those go). */
  bookkeeping(): { replicas: number; groups: number; pods: number } {
    return {
      replicas: this.book.size,
      groups: this.syncs.size + this.creates.size,
      pods: this.informer.size,
    };
  }

  private async takeOver(): Promise<ReplicaHandle[]> {
    this.cap = await this.cluster.capacity(this.gpuNodeLabel).catch((err: Error) => {
      // Without leave to list nodes the cluster's size is unknown; placement is then Kubernetes' alone.
      console.error(`kubernetes backend: cannot list nodes (${err.message}); capacity unknown`);
      return this.cap;
    });
    await this.informer.start();
    const since = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const pods = this.informer.pods();
    const adopted = adoptable(pods)
      .filter((a) => !this.book.get(a.id))
      .map(({ id, deploymentId, instanceType, revision, createdAtMs, group, modelId, pod }) => {
        const handle = { id, deploymentId, instanceType, revision, startedAtMs: createdAtMs ?? Date.now() };
        return { replica: this.book.add(handle, group, modelId, since), pod };
      });
    const handles = adopted.map(({ replica }) => ({ ...replica.handle }));
    for (const { replica, pod } of adopted) this.book.bind(replica, this.informer.get(pod)!);
    // Pods started for replicas the last control plane did not live to bind: their Deployments are
    // brought back to what this one wants (a start soon after may take such a pod).
    for (const group of groupsWithUnboundPods(pods)) this.syncs.request(group).catch(() => undefined);
    return handles;
  }

  /**
   * Makes a group as wanted: applies what pod-claims decides from the pods there and the replicas
   * wanted of it. Idempotent; one at a time per group (`syncs`).
   */
  private async sync(group: string): Promise<void> {
    if (this.closed) return;
    const replicas = this.book.ofGroup(group);
    const pods = this.informer.pods().filter((p) => p.metadata?.labels?.[LABELS.group] === group);
    const claims = claimPods(
      pods,
      replicas.map((r) => ({ id: r.handle.id, pod: podOf(r.state), stopping: r.state.kind === 'stopping' })),
    );
    for (const { replicaId, pod } of claims.bindings)
      this.book.bind(this.book.get(replicaId)!, this.informer.get(pod)!);
    await Promise.all(claims.patches.map((p) => this.cluster.annotatePod(p.pod, p.annotations)));
    if (claims.replicas === 0) return this.cluster.deleteDeployment(group);
    const create = this.creates.get(group);
    if (create) {
      await this.cluster.ensureDeployment(create);
      if (this.creates.get(group) === create) this.creates.delete(group);
    }
    await this.cluster.scaleDeployment(group, claims.replicas);
  }

  private onPod(type: PodEventType, pod: V1Pod): void {
    const name = pod.metadata?.name;
    const group = pod.metadata?.labels?.[LABELS.group];
    if (!name || !group) return;
    const replica = this.book.inPod(name);
    if (type === 'DELETED') {
      if (replica) this.book.podGone(replica);
    } else if (replica) {
      this.book.observe(replica, pod);
    } else if (
      !pod.metadata?.deletionTimestamp &&
      this.book.ofGroup(group).some((r) => r.state.kind === 'claiming')
    ) {
      this.syncs.request(group).catch((err: Error) => {
        console.error(`kubernetes backend: binding pods of ${group}: ${err.message}`);
      });
    }
  }

  /**
   * Takes a replica's pod away: its exit is decided, its group synced (its pod the first the
   * scale-down removes) and the pod deleted with `graceSeconds`; the exit is reported once the pod
   * is gone (at once when it had none).
   */
  private async remove(replica: Replica, graceSeconds: number, exit: ReplicaExit): Promise<void> {
    if (isFinished(replica) || this.closed) return;
    const pod = this.book.exitDecided(replica, exit);
    try {
      await this.syncs.request(replica.group);
      if (pod) await this.cluster.deletePod(pod, graceSeconds);
    } catch (err) {
      console.error(`kubernetes backend: removing replica ${replica.handle.id}: ${(err as Error).message}`);
    }
    if (!pod || !this.informer.get(pod)) this.book.finish(replica, exit);
  }

  /** A group with no replica left and no sync under way leaves the books. */
  private tidy(group: string): void {
    if (!this.syncs.busy(group) && this.book.ofGroup(group).length === 0) this.creates.delete(group);
  }

  private followLogs(replica: Replica, pod: string): () => void {
    const onLog = this.options.onLog!;
    const { modelId, handle } = replica;
    const target = { modelId, deploymentId: handle.deploymentId, replicaId: handle.id };
    const where = { namespace: this.options.namespace, pod, container: MODEL_CONTAINER };
    return followModelOutput(this.options.kubeConfig, where, replica.logsSince, (text, requestId) =>
      onLog(target, text, requestId),
    );
  }

  private manifestOptions(spec: ReplicaSpec): ManifestOptions {
    return {
      namespace: this.options.namespace,
      images: this.options.images,
      artifacts: this.options.artifacts(spec),
      apiKeySecret: this.options.apiKeySecret,
      port: this.port,
      preStopSeconds: this.preStopSeconds,
      drainSeconds: this.drainSeconds,
      gpuNodeLabel: this.gpuNodeLabel,
      ...(this.options.weightsCacheClaim ? { weightsCacheClaim: this.options.weightsCacheClaim } : {}),
    };
  }
}

function isFinished(replica: Replica): boolean {
  return replica.state.kind === 'finished';
}

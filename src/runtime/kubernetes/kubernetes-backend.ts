// The kubernetes RuntimeBackend: a model deployment's replicas are the pods of one apps/v1
// Deployment, whose replica count this backend sets to the number of replicas the reconciler
// wants. A started replica claims the next new pod of its Deployment (the binding is written on the
// pod as an annotation, so that a new control plane adopts it); a stopped one is drained, given the
// lowest pod-deletion-cost so that the scale-down removes that very pod, and deleted with the drain
// as its grace period. Pods are followed by a watch; their failures become replica exits and
// waits in plain words (pod-state.ts). Knows nothing of HTTP routes or the store.
import { AppsV1Api, CoreV1Api, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { parseCpu, parseMemory } from '../../domain/quantity.ts';
import type {
  Capacity,
  ReplicaEvent,
  ReplicaExit,
  ReplicaHandle,
  ReplicaSpec,
  RuntimeBackend,
} from '../backend.ts';
import { waitUntilReady } from '../readiness.ts';
import {
  DELETION_COST,
  LABELS,
  MANAGED_BY,
  MODEL_CONTAINER,
  REPLICA_ANNOTATION,
  deploymentManifest,
  envSecret,
} from './manifests.ts';
import type { ManifestOptions } from './manifests.ts';
import { readMark } from '../replica-log-mark.ts';
import { ReplicaListeners } from '../replica-listeners.ts';
import { followPodLog } from './pod-logs.ts';
import { podState } from './pod-state.ts';

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
  /** What a replica's model prints (its pod's model container, followed through the API). */
  onLog?: (
    replica: { modelId: string; deploymentId: string; replicaId: string },
    line: string,
    requestId: string | null,
  ) => void;
  /** Requests this process's gateway has in flight on a replica: a stop waits for them first. */
  inFlightOf?: (deploymentId: string, replicaId: string) => number;
  readinessIntervalMs?: number;
}

interface Tracked {
  handle: ReplicaHandle;
  group: string;
  pod: string | null;
  stopRequested: boolean;
  probing: boolean;
  waiting: string | null;
  finished: boolean;
  modelId: string;
  /** Stops following its pod's output; null while not followed. */
  unfollow: (() => void) | null;
  /** Output from this time on only (a pod adopted from another control plane). */
  logsSince: string | undefined;
  /** Resolves once the exit has been reported. */
  exited: Promise<void>;
  reported: () => void;
}

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const LOWEST_COST = String(-(2 ** 31));

export class KubernetesBackend implements RuntimeBackend {
  readonly name = 'kubernetes';
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly replicas = new Map<string, Tracked>();
  private readonly byPod = new Map<string, Tracked>();
  private readonly pods = new Map<string, V1Pod>();
  /** Replicas waiting for a pod of their Deployment, oldest first. */
  private readonly claims = new Map<string, Tracked[]>();
  /** Exits decided before the pod was gone, reported when it is. */
  private readonly pendingExits = new Map<Tracked, ReplicaExit>();
  /** The last operation on each Deployment: operations on one run one after another. */
  private readonly locks = new Map<string, Promise<void>>();
  private readonly listeners = new ReplicaListeners();
  private cap: Capacity = { cpu: 0, memoryBytes: 0, gpus: [] };
  private adopting: Promise<ReplicaHandle[]> | null = null;
  private watchAbort: AbortController | null = null;
  private closed = false;
  private readonly port: number;
  private readonly preStopSeconds: number;
  private readonly drainSeconds: number;

  constructor(private readonly options: KubernetesBackendOptions) {
    this.apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.port = options.port ?? 8080;
    this.preStopSeconds = options.preStopSeconds ?? 5;
    this.drainSeconds = options.drainSeconds ?? 30;
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
   * on by the replica ids written on them; then follows pods by a watch. Call before the first start.
   */
  adopt(): Promise<ReplicaHandle[]> {
    this.adopting ??= (async () => {
      await this.readNodes();
      const list = await this.core.listNamespacedPod({
        namespace: this.options.namespace,
        labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
      });
      const adopted: ReplicaHandle[] = [];
      for (const pod of list.items) {
        const id = pod.metadata?.annotations?.[REPLICA_ANNOTATION];
        const deploymentId = pod.metadata?.labels?.[LABELS.deployment];
        const group = pod.metadata?.labels?.[LABELS.group];
        if (!id || !deploymentId || !group || pod.metadata?.deletionTimestamp) continue;
        const tracked = this.track(
          {
            id,
            deploymentId,
            phase: 'STARTING',
            address: null,
            startedAtMs: Date.parse(String(pod.metadata?.creationTimestamp ?? '')) || Date.now(),
            readyAtMs: null,
            exit: null,
            instanceType: pod.metadata?.labels?.[LABELS.instanceType] ?? '',
            gpus: [],
          },
          group,
          pod.metadata?.labels?.[LABELS.model] ?? '',
        );
        tracked.pod = pod.metadata!.name!;
        tracked.logsSince = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        this.byPod.set(tracked.pod, tracked);
        adopted.push({ ...tracked.handle });
      }
      for (const pod of list.items) this.onPod('ADDED', pod);
      await this.follow(list.metadata?.resourceVersion);
      // Pods started for replicas the last control plane did not live to bind: their Deployments
      // are brought back to what this one wants (a start soon after may take such a pod).
      const unbound = list.items.filter(
        (p) => !p.metadata?.annotations?.[REPLICA_ANNOTATION] && !p.metadata?.deletionTimestamp,
      );
      for (const group of new Set(unbound.map((p) => p.metadata?.labels?.[LABELS.group] ?? '')))
        if (group) void this.exclusive(group, () => this.scale(group)).catch(() => undefined);
      return adopted;
    })();
    return this.adopting;
  }

  async start(spec: ReplicaSpec): Promise<ReplicaHandle> {
    await this.adopt();
    const manifest = this.manifestOptions(spec);
    const deployment = deploymentManifest(spec, manifest, 0);
    const group = deployment.metadata!.name!;
    await this.apply(envSecret(spec, manifest));
    const tracked = this.track(
      {
        id: spec.replicaId,
        deploymentId: spec.deploymentId,
        phase: 'STARTING',
        address: null,
        startedAtMs: Date.now(),
        readyAtMs: null,
        exit: null,
        instanceType: spec.resources.instanceType,
        gpus: [],
      },
      group,
      spec.modelId,
    );
    const queue = this.claims.get(group) ?? [];
    queue.push(tracked);
    this.claims.set(group, queue);
    try {
      await this.exclusive(group, async () => {
        const exists = await this.apps
          .readNamespacedDeployment({ name: group, namespace: this.options.namespace })
          .then(
            () => true,
            (err: unknown) => (status(err) === 404 ? false : Promise.reject(err)),
          );
        if (!exists) {
          await this.apps
            .createNamespacedDeployment({ namespace: this.options.namespace, body: deployment })
            .catch((err: unknown) => (status(err) === 409 ? undefined : Promise.reject(err)));
        }
        await this.scale(group);
      });
    } catch (err) {
      queue.splice(queue.indexOf(tracked), 1);
      this.replicas.delete(tracked.handle.id);
      throw err;
    }
    // A pod already there and bound to nobody (one Kubernetes replaced) is taken at once.
    const spare = [...this.pods.values()].find(
      (p) =>
        p.metadata?.labels?.[LABELS.group] === group &&
        !p.metadata?.annotations?.[REPLICA_ANNOTATION] &&
        !p.metadata?.deletionTimestamp &&
        !this.byPod.has(p.metadata!.name!),
    );
    if (spare) this.onPod('MODIFIED', spare);
    return { ...tracked.handle };
  }

  async stop(replicaId: string, { drainMs }: { drainMs: number }): Promise<void> {
    const tracked = this.replicas.get(replicaId);
    if (!tracked) return;
    if (!tracked.stopRequested) {
      tracked.stopRequested = true;
      if (tracked.handle.phase === 'STARTING' || tracked.handle.phase === 'READY') {
        tracked.handle.phase = 'DRAINING';
        this.emit({ type: 'draining', replica: { ...tracked.handle } });
      }
      const deadline = Date.now() + drainMs;
      const inFlight = (): number => this.options.inFlightOf?.(tracked.handle.deploymentId, replicaId) ?? 0;
      while (inFlight() > 0 && Date.now() < deadline && !tracked.finished) await sleep(10);
      const graceSeconds = this.preStopSeconds + Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
      await this.remove(tracked, graceSeconds, {
        code: null,
        signal: null,
        expected: true,
        reason: 'stopped by the platform',
        wasReady: tracked.handle.readyAtMs !== null,
      });
    }
    await tracked.exited;
  }

  list(deploymentId?: string): ReplicaHandle[] {
    return [...this.replicas.values()]
      .filter((t) => !t.finished && (deploymentId === undefined || t.handle.deploymentId === deploymentId))
      .map((t) => ({ ...t.handle }));
  }

  watch(listener: (event: ReplicaEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    await Promise.all([...this.replicas.keys()].map((id) => this.stop(id, { drainMs: 5000 })));
    this.closed = true;
    this.watchAbort?.abort();
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
      gpuNodeLabel: this.options.gpuNodeLabel ?? 'plinth.dev/accelerator',
    };
  }

  private track(handle: ReplicaHandle, group: string, modelId: string): Tracked {
    let reported!: () => void;
    const tracked: Tracked = {
      handle,
      group,
      pod: null,
      stopRequested: false,
      probing: false,
      waiting: null,
      finished: false,
      exited: new Promise((r) => (reported = r)),
      reported: () => reported(),
      modelId,
      unfollow: null,
      logsSince: undefined,
    };
    this.replicas.set(handle.id, tracked);
    return tracked;
  }

  /** Runs `fn` after every earlier operation on the same Deployment has finished. */
  private exclusive(group: string, fn: () => Promise<void>): Promise<void> {
    const before = this.locks.get(group) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.locks.set(group, settled);
    void settled.then(() => {
      if (this.locks.get(group) === settled) this.locks.delete(group);
    });
    return run;
  }

  /**
   * Sets a Deployment's replica count to the replicas wanted of it (the live ones not stopping);
   * one wanted by none is deleted, so that versions a deployment has left behind do not pile up.
   * Call inside `exclusive(group)`.
   */
  private async scale(group: string): Promise<void> {
    const wanted = [...this.replicas.values()].filter(
      (t) => t.group === group && !t.stopRequested && !t.finished,
    );
    const namespace = this.options.namespace;
    if (wanted.length === 0) {
      await this.apps.deleteNamespacedDeployment({ name: group, namespace }).catch(ignoreNotFound);
      return;
    }
    await this.apps
      .patchNamespacedDeployment(
        { name: group, namespace, body: { spec: { replicas: wanted.length } } },
        MERGE,
      )
      .catch(ignoreNotFound);
  }

  /**
   * Takes a replica's pod away: the scale-down removes that pod (lowest deletion cost) and it is
   * deleted with `graceSeconds`; the exit is reported once the pod is gone (at once when it has none).
   */
  private async remove(tracked: Tracked, graceSeconds: number, exit: ReplicaExit): Promise<void> {
    tracked.stopRequested = true;
    // Set first: the pod may be gone (and its deletion heard) before the calls below return.
    this.pendingExits.set(tracked, exit);
    const queue = this.claims.get(tracked.group);
    if (queue?.includes(tracked)) queue.splice(queue.indexOf(tracked), 1);
    const pod = tracked.pod;
    try {
      if (pod) {
        await this.core
          .patchNamespacedPod(
            {
              name: pod,
              namespace: this.options.namespace,
              body: { metadata: { annotations: { [DELETION_COST]: LOWEST_COST } } },
            },
            MERGE,
          )
          .catch(ignoreNotFound);
      }
      await this.exclusive(tracked.group, () => this.scale(tracked.group));
      if (pod) {
        await this.core
          .deleteNamespacedPod({
            name: pod,
            namespace: this.options.namespace,
            gracePeriodSeconds: graceSeconds,
          })
          .catch(ignoreNotFound);
      }
    } catch (err) {
      console.error(`kubernetes backend: removing replica ${tracked.handle.id}: ${(err as Error).message}`);
    }
    if (!pod || !this.pods.has(pod)) this.finish(tracked, exit);
  }

  private onPod(type: string, pod: V1Pod): void {
    const name = pod.metadata?.name;
    const group = pod.metadata?.labels?.[LABELS.group];
    if (!name || !group) return;
    if (type === 'DELETED') {
      this.pods.delete(name);
      const tracked = this.byPod.get(name);
      this.byPod.delete(name);
      if (tracked && !tracked.finished) {
        this.finish(
          tracked,
          this.pendingExits.get(tracked) ?? {
            code: null,
            signal: null,
            expected: tracked.stopRequested,
            reason: tracked.stopRequested
              ? 'stopped by the platform'
              : 'its pod was deleted (by Kubernetes, or by hand)',
            wasReady: tracked.handle.readyAtMs !== null,
          },
        );
      }
      return;
    }
    this.pods.set(name, pod);
    let tracked = this.byPod.get(name);
    if (!tracked && !pod.metadata?.deletionTimestamp) {
      const bound = pod.metadata?.annotations?.[REPLICA_ANNOTATION];
      const queue = this.claims.get(group) ?? [];
      const claim = bound ? queue.find((t) => t.handle.id === bound) : queue[0];
      if (!claim) return;
      queue.splice(queue.indexOf(claim), 1);
      claim.pod = name;
      this.byPod.set(name, claim);
      tracked = claim;
      if (!bound) {
        void this.core
          .patchNamespacedPod(
            {
              name,
              namespace: this.options.namespace,
              body: { metadata: { annotations: { [REPLICA_ANNOTATION]: claim.handle.id } } },
            },
            MERGE,
          )
          .catch((err: Error) => console.error(`kubernetes backend: binding pod ${name}: ${err.message}`));
      }
    }
    if (!tracked || tracked.finished) return;
    const state = podState(pod, this.port);
    if (state.kind === 'terminating') return;
    if (state.kind === 'failed') {
      if (tracked.stopRequested) return;
      void this.remove(tracked, 0, {
        code: state.code,
        signal: null,
        expected: false,
        reason: state.reason,
        output: state.output,
        wasReady: tracked.handle.readyAtMs !== null,
      });
      return;
    }
    if (state.waiting && state.waiting !== tracked.waiting) {
      tracked.waiting = state.waiting;
      this.emit({ type: 'pending', replica: { ...tracked.handle }, reason: state.waiting });
    }
    if (state.address && tracked.handle.address !== state.address) tracked.handle.address = state.address;
    if (state.kind === 'running' && !tracked.unfollow && this.options.onLog) this.followLogs(tracked, name);
    if (tracked.handle.phase !== 'STARTING' || !tracked.handle.address) return;
    if (state.ready) this.markReady(tracked);
    else if (!tracked.probing) {
      // Asking the model server itself is quicker than waiting for the kubelet's next probe.
      tracked.probing = true;
      void waitUntilReady(tracked.handle.address, {
        intervalMs: this.options.readinessIntervalMs ?? 25,
        stillWanted: () => tracked.handle.phase === 'STARTING' && !tracked.finished,
      }).then((ready) => {
        tracked.probing = false;
        if (ready) this.markReady(tracked);
      });
    }
  }

  private followLogs(tracked: Tracked, pod: string): void {
    const onLog = this.options.onLog!;
    const target = {
      modelId: tracked.modelId,
      deploymentId: tracked.handle.deploymentId,
      replicaId: tracked.handle.id,
    };
    tracked.unfollow = followPodLog(
      this.options.kubeConfig,
      { namespace: this.options.namespace, pod, container: MODEL_CONTAINER },
      tracked.logsSince,
      (line) => {
        if (line.startsWith('plinth: listening on ')) return;
        const { requestId, text } = readMark(line);
        onLog(target, text, requestId);
      },
    );
  }

  private markReady(tracked: Tracked): void {
    if (tracked.handle.phase !== 'STARTING' || tracked.finished) return;
    tracked.handle.phase = 'READY';
    tracked.handle.readyAtMs = Date.now();
    this.emit({ type: 'ready', replica: { ...tracked.handle } });
  }

  private finish(tracked: Tracked, exit: ReplicaExit): void {
    if (tracked.finished) return;
    tracked.finished = true;
    this.pendingExits.delete(tracked);
    tracked.handle.phase = exit.expected ? 'STOPPED' : 'FAILED';
    tracked.handle.exit = exit;
    this.replicas.delete(tracked.handle.id);
    if (tracked.pod) this.byPod.delete(tracked.pod);
    // What it printed last (its traceback) arrives before the stream is closed.
    const unfollow = tracked.unfollow;
    if (unfollow) setTimeout(unfollow, 1000).unref();
    this.emit({ type: 'exited', replica: { ...tracked.handle }, exit });
    tracked.reported();
  }

  /** Follows the platform's pods from `resourceVersion`; a broken watch lists again and resumes. */
  private async follow(resourceVersion: string | undefined): Promise<void> {
    if (this.closed) return;
    const watch = new Watch(this.options.kubeConfig);
    this.watchAbort = await watch.watch(
      `/api/v1/namespaces/${this.options.namespace}/pods`,
      { labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`, resourceVersion, allowWatchBookmarks: true },
      (type, pod: V1Pod) => {
        if (type === 'BOOKMARK') return;
        resourceVersion = pod.metadata?.resourceVersion ?? resourceVersion;
        this.onPod(type, pod);
      },
      () => {
        if (this.closed) return;
        setTimeout(() => void this.relist().catch(() => this.retryRelist()), 200).unref();
      },
    );
  }

  private retryRelist(): void {
    if (!this.closed) setTimeout(() => void this.relist().catch(() => this.retryRelist()), 1000).unref();
  }

  /** After a broken watch: what changed meanwhile is read whole (pods gone are reported gone). */
  private async relist(): Promise<void> {
    const list = await this.core.listNamespacedPod({
      namespace: this.options.namespace,
      labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
    });
    const present = new Set(list.items.map((p) => p.metadata?.name));
    for (const [name, pod] of this.pods) if (!present.has(name)) this.onPod('DELETED', pod);
    for (const pod of list.items) this.onPod('MODIFIED', pod);
    await this.follow(list.metadata?.resourceVersion);
  }

  private async readNodes(): Promise<void> {
    try {
      const nodes = await this.core.listNode();
      const gpuLabel = this.options.gpuNodeLabel ?? 'plinth.dev/accelerator';
      const cap: Capacity = { cpu: 0, memoryBytes: 0, gpus: [] };
      for (const node of nodes.items) {
        const a = node.status?.allocatable ?? {};
        cap.cpu += a['cpu'] ? parseCpu(a['cpu']) / 1000 : 0;
        cap.memoryBytes += a['memory'] ? parseMemory(a['memory']) : 0;
        const count = Number(a['nvidia.com/gpu'] ?? 0);
        const kind = node.metadata?.labels?.[gpuLabel] ?? 'gpu';
        for (let i = 0; i < count; i++) cap.gpus.push({ kind, index: cap.gpus.length });
      }
      this.cap = cap;
    } catch (err) {
      // Without leave to list nodes the cluster's size is unknown; placement is then Kubernetes' alone.
      console.error(`kubernetes backend: cannot list nodes (${(err as Error).message}); capacity unknown`);
    }
  }

  private async apply(secret: ReturnType<typeof envSecret>): Promise<void> {
    const name = secret.metadata!.name!;
    await this.core
      .replaceNamespacedSecret({ name, namespace: this.options.namespace, body: secret })
      .catch((err: unknown) =>
        status(err) === 404
          ? this.core.createNamespacedSecret({ namespace: this.options.namespace, body: secret })
          : Promise.reject(err),
      );
  }

  private emit(event: ReplicaEvent): void {
    this.listeners.emit(event);
  }
}

function status(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

function ignoreNotFound(err: unknown): undefined {
  if (status(err) === 404) return undefined;
  throw err;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// Keeps a cache of the pods that match a label selector, by name, and tells a handler what changed
// (ADDED, MODIFIED, DELETED): it lists them, watches from the list's resourceVersion, and after a
// broken watch lists again (pods gone meanwhile are told as DELETED) and watches anew. Plumbing
// only: it knows nothing of replicas.
import { CoreV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';

export type PodEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PodInformerOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  labelSelector: string;
  onEvent: (type: PodEventType, pod: V1Pod) => void;
  /** Wait after a watch broke before listing again (default 200 ms). */
  relistDelayMs?: number;
  /** Wait before trying again after a list that failed (default 1 s). */
  retryDelayMs?: number;
}

export class PodInformer {
  private readonly cache = new Map<string, V1Pod>();
  private readonly core: CoreV1Api;
  private watchAbort: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: PodInformerOptions) {
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
  }

  /** Lists the pods (each one told) and starts watching; rejects when the list fails. */
  start(): Promise<void> {
    this.closed = false;
    return this.relist();
  }

  get(name: string): V1Pod | undefined {
    return this.cache.get(name);
  }

  pods(): V1Pod[] {
    return [...this.cache.values()];
  }

  get size(): number {
    return this.cache.size;
  }

  /** Stops watching and forgets every pod; nothing is told after this. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.watchAbort?.abort();
    this.watchAbort = null;
    this.cache.clear();
  }

  private async relist(): Promise<void> {
    const list = await this.core.listNamespacedPod({
      namespace: this.options.namespace,
      labelSelector: this.options.labelSelector,
    });
    if (this.closed) return;
    const present = new Set(list.items.map((p) => p.metadata?.name));
    for (const [name, pod] of this.cache) {
      if (!present.has(name)) this.apply('DELETED', pod);
    }
    for (const pod of list.items)
      this.apply(this.cache.has(pod.metadata?.name ?? '') ? 'MODIFIED' : 'ADDED', pod);
    await this.follow(list.metadata?.resourceVersion);
  }

  private async follow(resourceVersion: string | undefined): Promise<void> {
    const watch = new Watch(this.options.kubeConfig);
    const abort = await watch.watch(
      `/api/v1/namespaces/${this.options.namespace}/pods`,
      { labelSelector: this.options.labelSelector, resourceVersion, allowWatchBookmarks: true },
      (type: string, pod: V1Pod) => {
        if (this.closed) return;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.apply(type, pod);
      },
      () => this.broken(),
    );
    if (this.closed) abort.abort();
    else this.watchAbort = abort;
  }

  private broken(): void {
    this.watchAbort = null;
    this.later(this.options.relistDelayMs ?? 200);
  }

  private later(delayMs: number): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed) return;
      this.relist().catch(() => this.later(this.options.retryDelayMs ?? 1000));
    }, delayMs);
    this.timer.unref();
  }

  private apply(type: PodEventType, pod: V1Pod): void {
    const name = pod.metadata?.name;
    if (!name) return;
    if (type === 'DELETED') this.cache.delete(name);
    else this.cache.set(name, pod);
    try {
      this.options.onEvent(type, pod);
    } catch (err) {
      console.error(`pod informer: handling ${type} of pod ${name} failed`, err);
    }
  }
}

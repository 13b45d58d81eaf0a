// A one-node Kubernetes cluster for tests, made of the fake API server and the controllers a real
// cluster would run against it: the Deployment controller (pods owned directly by their Deployment,
// with no ReplicaSet between them), the scheduler (requests against the node's allocatable and its
// labels) and a kubelet that runs pods as local processes (fake-kubelet.ts), so traffic really flows.
import type { Obj, WatchEvent } from './fake-api-server.ts';
import { FakeKubernetes } from './fake-api-server.ts';
import { FakeKubelet } from './fake-kubelet.ts';
import { parseCpu, parseMemory } from '../../../src/domain/quantity.ts';
import type { ImageTable } from './fake-kubelet.ts';

export interface FakeNode {
  name: string;
  cpuMillis: number;
  memoryBytes: number;
  gpus: number;
  labels: Record<string, string>;
}

interface PodSpec {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  containers: { resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }[];
}

type Meta = {
  name: string;
  namespace: string;
  uid: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  ownerReferences?: { uid: string }[];
  creationTimestamp: string;
};

const meta = (o: Obj): Meta => o.metadata as unknown as Meta;

export class FakeCluster {
  readonly api = new FakeKubernetes();
  readonly kubelet: FakeKubelet;
  readonly node: FakeNode;
  private scheduled = false;
  private unsubscribe: () => void = () => {};

  constructor(options: { images: ImageTable; node?: Partial<FakeNode> }) {
    this.node = {
      name: 'fake-node',
      cpuMillis: 8000,
      memoryBytes: 32 * 1024 ** 3,
      gpus: 0,
      labels: {},
      ...options.node,
    };
    this.kubelet = new FakeKubelet(this.api, this.node.name, options.images);
  }

  async start(): Promise<string> {
    const url = await this.api.start();
    const n = this.node;
    const resources = {
      cpu: `${n.cpuMillis}m`,
      memory: String(n.memoryBytes),
      pods: '110',
      ...(n.gpus ? { 'nvidia.com/gpu': String(n.gpus) } : {}),
    };
    this.api.put('nodes', '', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, ...n.labels } },
      status: {
        capacity: resources,
        allocatable: resources,
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    });
    this.unsubscribe = this.api.subscribe((plural, event) => this.changed(plural, event));
    this.kubelet.start();
    return url;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.kubelet.close();
    await this.api.close();
  }

  private changed(plural: string, _event: WatchEvent): void {
    if (plural !== 'deployments' && plural !== 'pods') return;
    if (this.scheduled) return;
    this.scheduled = true;
    // Controllers act on the state after a burst of changes, as informers' work queues do.
    setImmediate(() => {
      this.scheduled = false;
      this.reconcileDeployments();
      this.schedulePods();
    });
  }

  private reconcileDeployments(): void {
    const deployments = this.api.list('deployments');
    const uids = new Set(deployments.map((d) => meta(d).uid));
    const pods = this.api.list('pods');
    // Garbage collection: pods whose owner is gone go with it.
    for (const pod of pods) {
      const owner = meta(pod).ownerReferences?.[0]?.uid;
      if (owner && !uids.has(owner) && !meta(pod).deletionTimestamp)
        this.api.delete('pods', meta(pod).namespace, meta(pod).name, null);
    }
    for (const d of deployments) {
      const m = meta(d);
      const spec = d['spec'] as {
        replicas?: number;
        template: {
          metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
          spec: unknown;
        };
      };
      const owned = pods.filter((p) => meta(p).ownerReferences?.[0]?.uid === m.uid);
      const active = owned.filter((p) => !meta(p).deletionTimestamp);
      const want = spec.replicas ?? 1;
      for (let i = active.length; i < want; i++) {
        this.api.put('pods', m.namespace, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            generateName: `${m.name}-`,
            labels: spec.template.metadata?.labels ?? {},
            annotations: spec.template.metadata?.annotations ?? {},
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: 'Deployment', name: m.name, uid: m.uid, controller: true },
            ],
          },
          spec: structuredClone(spec.template.spec),
          status: { phase: 'Pending' },
        });
      }
      if (active.length > want) {
        for (const pod of [...active].sort(deletionOrder).slice(0, active.length - want))
          this.api.delete('pods', meta(pod).namespace, meta(pod).name, null);
      }
      const ready = active.filter(isReady).length;
      const status = { replicas: active.length, readyReplicas: ready, availableReplicas: ready };
      if (JSON.stringify(d['status']) !== JSON.stringify(status))
        this.api.setStatus('deployments', m.namespace, m.name, status);
    }
  }

  private schedulePods(): void {
    const pods = this.api.list('pods');
    const used = { cpu: 0, memory: 0, gpus: 0 };
    for (const p of pods) {
      if ((p['spec'] as PodSpec).nodeName !== this.node.name) continue;
      const r = requestsOf(p['spec'] as PodSpec);
      used.cpu += r.cpu;
      used.memory += r.memory;
      used.gpus += r.gpus;
    }
    for (const pod of pods) {
      const spec = pod['spec'] as PodSpec;
      if (spec.nodeName || meta(pod).deletionTimestamp) continue;
      const why = this.unfit(spec, used);
      if (why === null) {
        const r = requestsOf(spec);
        used.cpu += r.cpu;
        used.memory += r.memory;
        used.gpus += r.gpus;
        this.api.put('pods', meta(pod).namespace, {
          ...pod,
          spec: { ...spec, nodeName: this.node.name },
          status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] },
        });
        continue;
      }
      const status = {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: `0/1 nodes are available: 1 ${why}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.`,
          },
        ],
      };
      if (JSON.stringify(pod['status']) !== JSON.stringify(status))
        this.api.setStatus('pods', meta(pod).namespace, meta(pod).name, status);
    }
  }

  /** Why a pod does not fit on the node (as the scheduler words it), or null. */
  private unfit(spec: PodSpec, used: { cpu: number; memory: number; gpus: number }): string | null {
    for (const [key, value] of Object.entries(spec.nodeSelector ?? {})) {
      if (this.node.labels[key] !== value) return "node(s) didn't match Pod's node affinity/selector";
    }
    const r = requestsOf(spec);
    if (used.gpus + r.gpus > this.node.gpus) return 'Insufficient nvidia.com/gpu';
    if (used.cpu + r.cpu > this.node.cpuMillis) return 'Insufficient cpu';
    if (used.memory + r.memory > this.node.memoryBytes) return 'Insufficient memory';
    return null;
  }
}

/** The ReplicaSet controller's order of pods to remove on a scale-down: the least useful first. */
function deletionOrder(a: Obj, b: Obj): number {
  const rank = (p: Obj): number[] => {
    const phase = (p['status'] as { phase?: string } | undefined)?.phase;
    const cost = Number(meta(p).annotations?.['controller.kubernetes.io/pod-deletion-cost'] ?? 0);
    return [
      (p['spec'] as PodSpec).nodeName ? 1 : 0,
      phase === 'Pending' ? 0 : phase === 'Running' ? 2 : 1,
      isReady(p) ? 1 : 0,
      cost,
      // Newer pods go first.
      -Date.parse(meta(p).creationTimestamp),
    ];
  };
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
  return 0;
}

function isReady(p: Obj): boolean {
  const conditions = (p['status'] as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function requestsOf(spec: PodSpec): { cpu: number; memory: number; gpus: number } {
  let cpu = 0;
  let memory = 0;
  let gpus = 0;
  for (const c of spec.containers ?? []) {
    const req = { ...c.resources?.limits, ...c.resources?.requests };
    cpu += req['cpu'] ? parseCpu(req['cpu']) : 0;
    memory += req['memory'] ? parseMemory(req['memory']) : 0;
    gpus += Number(c.resources?.limits?.['nvidia.com/gpu'] ?? 0);
  }
  return { cpu, memory, gpus };
}

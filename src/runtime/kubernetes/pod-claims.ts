// Which replica runs in which pod of a group (the pods of one apps/v1 Deployment), what to write on
// those pods, and how many pods the Deployment should have — decided from the pods there and the
// replicas wanted of it. A replica waiting for a pod takes the one annotated with its id, else the
// oldest pod bound to nobody; each bound pod carries its replica's id (REPLICA_ANNOTATION), so that
// the next control plane adopts it (`adoptable`); a stopping replica's pod gets the lowest
// DELETION_COST, so that the scale-down removes that very pod. Pure: no I/O, no clock.
import type { V1Pod } from '@kubernetes/client-node';
import { DELETION_COST, LABELS, REPLICA_ANNOTATION } from './manifests.ts';

/** A replica of the group as the backend holds it, in the order replicas claimed pods. */
export interface GroupReplica {
  id: string;
  /** Its pod; null while it waits for one. */
  pod: string | null;
  stopping: boolean;
}

export interface PodPatch {
  pod: string;
  annotations: Record<string, string>;
}

export interface Claims {
  /** Replicas that waited for a pod and now have one. */
  bindings: { replicaId: string; pod: string }[];
  /** Annotations to write, before the Deployment's replica count changes. */
  patches: PodPatch[];
  /** The Deployment's replica count: the replicas wanted of it; 0 means delete it. */
  replicas: number;
}

/** The pod-deletion-cost that makes a pod the first one a scale-down removes. */
export const LOWEST_COST = String(-(2 ** 31));

export function claimPods(pods: V1Pod[], replicas: GroupReplica[]): Claims {
  const byName = new Map(pods.map((p) => [p.metadata?.name ?? '', p]));
  const taken = new Set(replicas.flatMap((r) => (r.pod ? [r.pod] : [])));
  const free = pods
    .filter((p) => !p.metadata?.deletionTimestamp && !taken.has(p.metadata?.name ?? ''))
    .sort(oldestFirst);
  const bindings: Claims['bindings'] = [];
  const take = (replicaId: string, pod: V1Pod): void => {
    free.splice(free.indexOf(pod), 1);
    bindings.push({ replicaId, pod: pod.metadata!.name! });
  };
  const waiting = replicas.filter((r) => r.pod === null && !r.stopping);
  // A pod already written with a replica's id goes to that replica, and only to it.
  for (const replica of waiting) {
    const own = free.find((p) => boundTo(p) === replica.id);
    if (own) take(replica.id, own);
  }
  for (const replica of waiting) {
    if (bindings.some((b) => b.replicaId === replica.id)) continue;
    const spare = free.find((p) => boundTo(p) === null);
    if (spare) take(replica.id, spare);
  }

  const patches: PodPatch[] = [];
  const podOf = (r: GroupReplica): V1Pod | undefined =>
    byName.get(r.pod ?? bindings.find((b) => b.replicaId === r.id)?.pod ?? '');
  for (const replica of replicas) {
    const pod = podOf(replica);
    if (!pod || pod.metadata?.deletionTimestamp) continue;
    const name = pod.metadata!.name!;
    if (replica.stopping) {
      if (pod.metadata?.annotations?.[DELETION_COST] !== LOWEST_COST)
        patches.push({ pod: name, annotations: { [DELETION_COST]: LOWEST_COST } });
    } else if (boundTo(pod) !== replica.id) {
      patches.push({ pod: name, annotations: { [REPLICA_ANNOTATION]: replica.id } });
    }
  }
  return { bindings, patches, replicas: replicas.filter((r) => !r.stopping).length };
}

/** A replica another control plane left running, as written on its pod. */
export interface Adoptable {
  id: string;
  pod: string;
  deploymentId: string;
  group: string;
  modelId: string;
  instanceType: string;
  revision: number;
  /** When its pod was made; null when unknown. */
  createdAtMs: number | null;
}

/** The replicas bound to these pods (pods being deleted are let go). */
export function adoptable(pods: V1Pod[]): Adoptable[] {
  return pods.flatMap((pod) => {
    const meta = pod.metadata ?? {};
    const id = boundTo(pod);
    const deploymentId = meta.labels?.[LABELS.deployment];
    const group = meta.labels?.[LABELS.group];
    if (!id || !meta.name || !deploymentId || !group || meta.deletionTimestamp) return [];
    const modelId = meta.labels?.[LABELS.model] ?? '';
    const instanceType = meta.labels?.[LABELS.instanceType] ?? '';
    // Pods made before revisions were labelled run revision 0.
    const revision = Number(meta.labels?.[LABELS.revision] ?? 0) || 0;
    const createdAtMs = new Date(meta.creationTimestamp ?? NaN).getTime() || null;
    return [{ id, pod: meta.name, deploymentId, group, modelId, instanceType, revision, createdAtMs }];
  });
}

/** The groups with pods bound to no replica (started for replicas a control plane did not live to bind). */
export function groupsWithUnboundPods(pods: V1Pod[]): string[] {
  const unbound = pods.filter((p) => boundTo(p) === null && !p.metadata?.deletionTimestamp);
  return [...new Set(unbound.flatMap((p) => p.metadata?.labels?.[LABELS.group] ?? []))];
}

function boundTo(pod: V1Pod): string | null {
  return pod.metadata?.annotations?.[REPLICA_ANNOTATION] ?? null;
}

function oldestFirst(a: V1Pod, b: V1Pod): number {
  const at = (p: V1Pod): number => new Date(p.metadata?.creationTimestamp ?? 0).getTime() || 0;
  return at(a) - at(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
}

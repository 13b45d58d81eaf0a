// pod-claims as tables: the pods of a group and the replicas wanted of it → the bindings, the
// annotations to write and the Deployment's replica count; and the pods a control plane finds
// → the replicas it adopts and the groups it brings back to what it wants.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { DELETION_COST, LABELS, REPLICA_ANNOTATION } from './manifests.ts';
import { adoptable, claimPods, groupsWithUnboundPods, LOWEST_COST } from './pod-claims.ts';
import type { Adoptable, Claims, GroupReplica } from './pod-claims.ts';

/** A pod created `second` seconds into the minute, bound to `replica` when given. */
function pod(
  name: string,
  {
    second = 0,
    replica,
    cost,
    deleting,
  }: { second?: number; replica?: string; cost?: string; deleting?: boolean } = {},
): V1Pod {
  const annotations = {
    ...(replica ? { [REPLICA_ANNOTATION]: replica } : {}),
    ...(cost ? { [DELETION_COST]: cost } : {}),
  };
  return {
    metadata: {
      name,
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, second)),
      ...(Object.keys(annotations).length ? { annotations } : {}),
      ...(deleting ? { deletionTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 1)) } : {}),
    },
  };
}

const waiting = (id: string): GroupReplica => ({ id, pod: null, stopping: false });
const bound = (id: string, pod: string): GroupReplica => ({ id, pod, stopping: false });
const stopping = (id: string, pod: string | null = null): GroupReplica => ({ id, pod, stopping: true });
const bind = (pod: string, replica: string) => ({ pod, annotations: { [REPLICA_ANNOTATION]: replica } });
const release = (pod: string) => ({ pod, annotations: { [DELETION_COST]: LOWEST_COST } });

const CASES: { name: string; pods: V1Pod[]; replicas: GroupReplica[]; want: Claims }[] = [
  {
    name: 'a replica with no pod yet waits; the Deployment is asked for one',
    pods: [],
    replicas: [waiting('r-1')],
    want: { bindings: [], patches: [], replicas: 1 },
  },
  {
    name: 'a new pod goes to the waiting replica, and is written with its id',
    pods: [pod('p-a')],
    replicas: [waiting('r-1')],
    want: { bindings: [{ replicaId: 'r-1', pod: 'p-a' }], patches: [bind('p-a', 'r-1')], replicas: 1 },
  },
  {
    name: 'replicas take pods in the order they claimed, oldest pod first',
    pods: [pod('p-new', { second: 9 }), pod('p-old', { second: 1 })],
    replicas: [waiting('r-1'), waiting('r-2'), waiting('r-3')],
    want: {
      bindings: [
        { replicaId: 'r-1', pod: 'p-old' },
        { replicaId: 'r-2', pod: 'p-new' },
      ],
      patches: [bind('p-old', 'r-1'), bind('p-new', 'r-2')],
      replicas: 3,
    },
  },
  {
    name: "a pod already written with a replica's id goes to that replica, not the first in line",
    pods: [pod('p-a', { replica: 'r-2' }), pod('p-b', { second: 5 })],
    replicas: [waiting('r-1'), waiting('r-2')],
    want: {
      bindings: [
        { replicaId: 'r-2', pod: 'p-a' },
        { replicaId: 'r-1', pod: 'p-b' },
      ],
      patches: [bind('p-b', 'r-1')],
      replicas: 2,
    },
  },
  {
    name: 'a pod written with the id of a replica not wanted here goes to nobody',
    pods: [pod('p-a', { replica: 'r-gone' })],
    replicas: [waiting('r-1')],
    want: { bindings: [], patches: [], replicas: 1 },
  },
  {
    name: 'a pod being deleted goes to nobody',
    pods: [pod('p-a', { deleting: true })],
    replicas: [waiting('r-1')],
    want: { bindings: [], patches: [], replicas: 1 },
  },
  {
    name: "a replica's pod is not taken by another",
    pods: [pod('p-a')],
    replicas: [bound('r-1', 'p-a'), waiting('r-2')],
    want: { bindings: [], patches: [bind('p-a', 'r-1')], replicas: 2 },
  },
  {
    name: 'bound and written: nothing to do (the same input twice changes nothing)',
    pods: [pod('p-a', { replica: 'r-1' })],
    replicas: [bound('r-1', 'p-a')],
    want: { bindings: [], patches: [], replicas: 1 },
  },
  {
    name: "a stopping replica's pod gets the lowest deletion cost and is not counted",
    pods: [pod('p-a', { replica: 'r-1' }), pod('p-b', { replica: 'r-2' })],
    replicas: [bound('r-1', 'p-a'), stopping('r-2', 'p-b')],
    want: { bindings: [], patches: [release('p-b')], replicas: 1 },
  },
  {
    name: 'a pod that has the lowest cost already, or is being deleted, is not written again',
    pods: [pod('p-a', { replica: 'r-1', cost: LOWEST_COST }), pod('p-b', { replica: 'r-2', deleting: true })],
    replicas: [stopping('r-1', 'p-a'), stopping('r-2', 'p-b')],
    want: { bindings: [], patches: [], replicas: 0 },
  },
  {
    name: 'a replica stopped before it had a pod takes none',
    pods: [pod('p-a')],
    replicas: [stopping('r-1'), waiting('r-2')],
    want: { bindings: [{ replicaId: 'r-2', pod: 'p-a' }], patches: [bind('p-a', 'r-2')], replicas: 1 },
  },
  {
    name: 'pods nobody wants (a control plane that died before binding them): the Deployment goes',
    pods: [pod('p-a'), pod('p-b', { replica: 'r-old' })],
    replicas: [],
    want: { bindings: [], patches: [], replicas: 0 },
  },
];

for (const c of CASES) {
  test(`pod claims: ${c.name}`, () => {
    assert.deepEqual(claimPods(c.pods, c.replicas), c.want);
  });
}

/** A pod of group `group` of deployment `d-1`, as the Deployment labels it. */
function labelled(name: string, group: string, options: Parameters<typeof pod>[1] = {}): V1Pod {
  const p = pod(name, options);
  p.metadata!.labels = {
    [LABELS.deployment]: 'd-1',
    [LABELS.group]: group,
    [LABELS.model]: 'm-1',
    [LABELS.instanceType]: '1x2',
  };
  return p;
}

/** A bound pod of a later revision, as the backend labels it. */
function ofRevision(p: V1Pod, revision: number): V1Pod {
  p.metadata!.labels![LABELS.revision] = String(revision);
  return p;
}

const ADOPTIONS: { name: string; pods: V1Pod[]; adopted: Adoptable[]; unbound: string[] }[] = [
  {
    name: 'a pod of a later revision is adopted with it (one without the label runs revision 0)',
    pods: [ofRevision(labelled('p-r', 'g-2', { replica: 'r-7', second: 1 }), 3)],
    adopted: [
      {
        id: 'r-7',
        pod: 'p-r',
        deploymentId: 'd-1',
        group: 'g-2',
        modelId: 'm-1',
        instanceType: '1x2',
        revision: 3,
        createdAtMs: Date.UTC(2026, 0, 1, 0, 0, 1),
      },
    ],
    unbound: [],
  },
  {
    name: 'a bound pod is its replica, as written on it',
    pods: [labelled('p-a', 'g-1', { replica: 'r-1', second: 3 })],
    adopted: [
      {
        id: 'r-1',
        pod: 'p-a',
        deploymentId: 'd-1',
        group: 'g-1',
        modelId: 'm-1',
        instanceType: '1x2',
        revision: 0,
        createdAtMs: Date.UTC(2026, 0, 1, 0, 0, 3),
      },
    ],
    unbound: [],
  },
  {
    name: 'a pod being deleted is let go; one bound to nobody brings its group back to what is wanted',
    pods: [
      labelled('p-a', 'g-1', { replica: 'r-1', deleting: true }),
      labelled('p-b', 'g-2'),
      labelled('p-c', 'g-2'),
      labelled('p-d', 'g-3', { deleting: true }),
    ],
    adopted: [],
    unbound: ['g-2'],
  },
  {
    name: 'a pod without the labels of a Deployment of ours is not adopted',
    pods: [pod('p-a', { replica: 'r-1' })],
    adopted: [],
    unbound: [],
  },
];

for (const c of ADOPTIONS) {
  test(`adoption: ${c.name}`, () => {
    assert.deepEqual(adoptable(c.pods), c.adopted);
    assert.deepEqual(groupsWithUnboundPods(c.pods), c.unbound);
  });
}

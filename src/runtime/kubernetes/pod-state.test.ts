// A pod's status, as real clusters write it, in the platform's words.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { podState } from './pod-state.ts';

function pod(status: V1Pod['status'], extra: Partial<V1Pod> = {}): V1Pod {
  return {
    metadata: { name: 'plinth-dabc-1f2e3d-x7k2p' },
    spec: { containers: [{ name: 'model', resources: { limits: { memory: '2Gi' } } }] },
    status,
    ...extra,
  };
}

const running = {
  name: 'model',
  image: 'plinth/runtime-node:0.1.0',
  imageID: '',
  ready: true,
  restartCount: 0,
  state: { running: { startedAt: new Date() } },
};

test('a running pod listens on its IP; ready when Kubernetes says so', () => {
  const state = podState(
    pod({
      phase: 'Running',
      podIP: '10.4.2.17',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [running],
    }),
    8080,
  );
  assert.deepEqual(state, { kind: 'running', address: '10.4.2.17:8080', ready: true, waiting: null });
  const v6 = podState(pod({ phase: 'Running', podIP: 'fd00::17', containerStatuses: [running] }), 8080);
  assert.equal(v6.kind === 'running' && v6.address, '[fd00::17]:8080');
});

test("a pod the scheduler cannot place waits, with the scheduler's words", () => {
  const state = podState(
    pod({
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message:
            "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector.",
        },
      ],
    }),
    8080,
  );
  assert.equal(state.kind, 'starting');
  assert.equal(
    state.kind === 'starting' && state.waiting,
    "the cluster has no room for it: 0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector.",
  );
});

test('failures: image pull, init container crash loop, load() error, OOM, eviction', () => {
  const pull = podState(
    pod({
      phase: 'Pending',
      initContainerStatuses: [{ ...running, name: 'fetch', ready: false, state: { running: {} } }],
      containerStatuses: [
        {
          ...running,
          ready: false,
          image: 'registry.example.com/plinth/runtime-node:0.1.0',
          state: {
            waiting: {
              reason: 'ImagePullBackOff',
              message: 'Back-off pulling image "registry.example.com/plinth/runtime-node:0.1.0"',
            },
          },
        },
      ],
    }),
    8080,
  );
  assert.equal(
    pull.kind === 'failed' && pull.reason,
    'cannot pull image "registry.example.com/plinth/runtime-node:0.1.0": Back-off pulling image "registry.example.com/plinth/runtime-node:0.1.0"',
  );

  const fetch = podState(
    pod({
      phase: 'Pending',
      initContainerStatuses: [
        {
          ...running,
          name: 'fetch',
          ready: false,
          restartCount: 2,
          state: {
            waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container' },
          },
          lastState: {
            terminated: {
              exitCode: 1,
              reason: 'Error',
              message:
                'error: cannot fetch http://plinth.plinth.svc:4780/v1/models/m/deployments/d/artifacts/app: fetch failed\n',
            },
          },
        },
      ],
    }),
    8080,
  );
  assert.equal(
    fetch.kind === 'failed' && fetch.reason,
    'could not fetch the build from the control plane: error: cannot fetch http://plinth.plinth.svc:4780/v1/models/m/deployments/d/artifacts/app: fetch failed',
  );

  const load = podState(
    pod({
      phase: 'Running',
      containerStatuses: [
        {
          ...running,
          ready: false,
          restartCount: 1,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: {
            terminated: {
              exitCode: 3,
              reason: 'Error',
              message:
                'loading weights\nplinth: load() failed: no weights at /data/w.bin\nError: no weights at /data/w.bin\n    at Model.load (model.mjs:3:11)\n',
            },
          },
        },
      ],
    }),
    8080,
  );
  assert.equal(load.kind === 'failed' && load.reason, 'load() failed: no weights at /data/w.bin');
  assert.match(
    load.kind === 'failed' ? (load.output ?? '') : '',
    /^plinth: load\(\) failed[\s\S]*at Model\.load/,
  );

  const oom = podState(
    pod({
      phase: 'Running',
      containerStatuses: [
        { ...running, restartCount: 1, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } },
      ],
    }),
    8080,
  );
  assert.equal(
    oom.kind === 'failed' && oom.reason,
    "out of memory: the replica used more than its instance type's 2Gi (OOMKilled)",
  );

  const evicted = podState(
    pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' }),
    8080,
  );
  assert.equal(
    evicted.kind === 'failed' && evicted.reason,
    'Kubernetes ended its pod (Evicted): The node was low on resource: memory.',
  );
});

test('a pod being deleted is left to finish', () => {
  assert.deepEqual(
    podState(pod({ phase: 'Running' }, { metadata: { deletionTimestamp: new Date() } }), 8080),
    {
      kind: 'terminating',
    },
  );
});

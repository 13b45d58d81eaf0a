// The kubernetes backend across control planes and faults (against the fake cluster, with a proxy
// in front of its API server where the API must fail): a closed control plane leaves its pods to
// the next one, an adopt() or a start that failed leaves nothing broken behind, and what the backend
// keeps of replicas, Deployments and pods goes when they go.
import { sleep, until } from '../../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../backend-suite.ts';
import { FakeCluster } from '../../../test/support/kubernetes/fake-cluster.ts';
import { plinthImageTable, TEST_IMAGES } from '../../../test/support/kubernetes/plinth-images.ts';
import type { KubernetesBackend, KubernetesBackendOptions } from './kubernetes-backend.ts';
import { ApiProxy } from '../../../test/support/kubernetes/api-proxy.ts';
import { ECHO, kubeConfigAt, NAMESPACE, startRig } from '../../../test/support/kubernetes/backend-rig.ts';
import type { Pod, Rig } from '../../../test/support/kubernetes/backend-rig.ts';

function rig(extra: Partial<KubernetesBackendOptions> = {}): Promise<Rig<FakeCluster>> {
  return startRig(new FakeCluster({ images: plinthImageTable() }), { images: TEST_IMAGES, ...extra });
}

const predictAt = async (address: string, input: unknown): Promise<number> =>
  (await fetch(`http://${address}/v1/models/model:predict`, { method: 'POST', body: JSON.stringify(input) }))
    .status;

test('a closed control plane leaves its pods running, and the next one adopts them as they are', async () => {
  const printed: string[] = [];
  const r = await rig({ onLog: (_replica, line) => printed.push(line) });
  try {
    const spec = r.specFor(ECHO, 'd-handover');
    const ready = waitFor(r.backend, (e) => e.type === 'ready');
    const started = await r.backend.start(spec);
    const address = (await ready).replica.address!;
    const heard: string[] = [];
    r.backend.watch((e) => heard.push(`${e.type} ${e.replica.id}`));
    await r.backend.close();

    // A rolling restart of the control plane: nothing is stopped, so no model starts cold.
    const pods = r.cluster.api.list('pods', NAMESPACE) as Pod[];
    assert.deepEqual(
      pods.map((p) => [p.metadata.annotations?.['plinth.dev/replica-id'], p.metadata.deletionTimestamp]),
      [[spec.replicaId, undefined]],
      'its pod is still there, not being deleted',
    );
    assert.equal(
      (r.cluster.api.list('deployments', NAMESPACE)[0] as { spec: { replicas: number } }).spec.replicas,
      1,
    );
    assert.equal(await predictAt(address, { x: 'between control planes' }), 200, 'and it serves meanwhile');

    const nextPrinted: string[] = [];
    const next = r.newBackend({ onLog: (_replica, line) => nextPrinted.push(line) });
    const readyAgain = waitFor(next, (e) => e.type === 'ready' && e.replica.id === spec.replicaId);
    const adopted = await next.adopt();
    assert.deepEqual(
      adopted.map((h) => [h.id, h.deploymentId, h.instanceType]),
      [[spec.replicaId, 'd-handover', '1x2']],
    );
    assert.deepEqual(Object.keys(adopted[0]!).sort(), Object.keys(started).sort(), 'a handle like any other');
    await readyAgain;
    assert.deepEqual(
      next.list().map((h) => [h.id, h.phase, h.address]),
      [[spec.replicaId, 'READY', address]],
      'the same replica, ready, at the same address',
    );
    assert.equal(await predictAt(address, { x: 'after' }), 200);
    // The closed one follows no output: the next one has heard the line, and then some time passes.
    await until(
      'the new follower',
      () => nextPrinted.includes('predicting {"x":"after"}'),
      Boolean,
      10_000,
      50,
    );
    await sleep(500);
    assert.equal(printed.includes('predicting {"x":"after"}'), false, 'the closed backend stopped following');

    await next.stop(spec.replicaId, { drainMs: 1000 });
    assert.deepEqual(r.cluster.api.list('pods', NAMESPACE), [], 'stopped by the next one: its pod is gone');
    assert.deepEqual(heard, [], 'the closed backend told nothing after it closed');
    await next.close();
  } finally {
    await r.backend.close();
    await r.cleanup();
  }
});

/** A rig, and a second backend that reaches its cluster through a proxy the test controls. */
async function behindProxy(
  body: (r: Rig<FakeCluster>, proxy: ApiProxy, backend: () => KubernetesBackend) => Promise<void>,
): Promise<void> {
  const r = await rig();
  const proxy = new ApiProxy(r.cluster.api.url);
  try {
    await proxy.start();
    await body(r, proxy, () => r.newBackend({ kubeConfig: kubeConfigAt(proxy.url) }));
  } finally {
    await r.backend.close();
    await proxy.close();
    await r.cleanup();
  }
}

test('an adopt() that failed is tried again by the next call rather than failing every start', async () => {
  await behindProxy(async (r, proxy, newBackend) => {
    proxy.down = true;
    const backend = newBackend();
    await assert.rejects(backend.adopt());
    proxy.down = false;
    const spec = r.specFor(ECHO, 'd-retry');
    const ready = waitFor(backend, (e) => e.type === 'ready' && e.replica.id === spec.replicaId);
    await backend.start(spec);
    await ready;
    await backend.stop(spec.replicaId, { drainMs: 0 });
    await backend.close();
  });
});

test("a start that fails leaves the other replicas' claims alone", async () => {
  await behindProxy(async (r, proxy, newBackend) => {
    const backend = newBackend();
    await backend.adopt();
    // The backend hears of no pod for now: the first replica waits for one.
    proxy.pauseWatches();
    const waiting = r.specFor(ECHO, 'd-claims');
    await backend.start(waiting);
    // A second replica of the same deployment is stopped while its start is under way, then the start
    // fails (the API server refuses the scale-up).
    const failing = r.specFor(ECHO, 'd-claims');
    const scaleUp = proxy.hold((method, path) => method === 'PATCH' && path.includes('/deployments/'));
    const started = backend.start(failing);
    const held = await scaleUp;
    const stopped = backend.stop(failing.replicaId, { drainMs: 0 });
    held.fail(500);
    await assert.rejects(started);
    await stopped;
    // The first replica still gets its pod once the backend hears of it.
    const ready = waitFor(backend, (e) => e.type === 'ready' && e.replica.id === waiting.replicaId, 15_000);
    proxy.resumeWatches();
    await ready;
    assert.deepEqual(
      backend.list().map((h) => [h.id, h.phase]),
      [[waiting.replicaId, 'READY']],
    );
    await backend.stop(waiting.replicaId, { drainMs: 0 });
    await backend.close();
  });
});

test('what the backend keeps of a replica or a Deployment goes when they go', async () => {
  const r = await rig();
  try {
    for (const deployment of ['d-keep-1', 'd-keep-2', 'd-keep-3']) {
      const spec = r.specFor(ECHO, deployment);
      const ready = waitFor(r.backend, (e) => e.type === 'ready' && e.replica.id === spec.replicaId);
      await r.backend.start(spec);
      await ready;
      await r.backend.stop(spec.replicaId, { drainMs: 0 });
    }
    // One stopped before it had a pod.
    const early = r.specFor(ECHO, 'd-keep-4');
    await r.backend.start(early);
    await r.backend.stop(early.replicaId, { drainMs: 0 });
    await until(
      'every pod to be gone',
      () => r.cluster.api.list('pods', NAMESPACE).length === 0,
      Boolean,
      10_000,
      50,
    );
    const empty = { replicas: 0, groups: 0, pods: 0 };
    await until(
      'the bookkeeping to empty',
      () => JSON.stringify(r.backend.bookkeeping()) === JSON.stringify(empty),
      Boolean,
      5_000,
      50,
    ).catch(() => assert.deepEqual(r.backend.bookkeeping(), empty));
  } finally {
    await r.backend.close();
    await r.cleanup();
  }
});

test('closing while a replica drains touches nothing: the Deployment and both its pods stay', async () => {
  const r = await rig();
  try {
    const a = r.specFor(ECHO, 'd-close');
    const b = r.specFor(ECHO, 'd-close'); // the same code: the same Deployment
    for (const spec of [a, b]) {
      const ready = waitFor(r.backend, (e) => e.type === 'ready' && e.replica.id === spec.replicaId);
      await r.backend.start(spec);
      await ready;
    }
    // A scale-down under way: the gateway still has a request on `a` (it never finishes here).
    void r.backend.stop(a.replicaId, { drainMs: 20_000, drained: new Promise<void>(() => {}) });
    await sleep(200);
    await r.backend.close(); // the control plane shuts down (a rolling restart)
    await sleep(1500);
    assert.equal(r.cluster.api.list('deployments', NAMESPACE).length, 1, 'the Deployment is still there');
    const pods = (r.cluster.api.list('pods', NAMESPACE) as Pod[]).filter(
      (p) => !p.metadata.deletionTimestamp,
    );
    assert.equal(pods.length, 2, 'and so are both its pods');
  } finally {
    await r.backend.close();
    await r.cleanup();
  }
});

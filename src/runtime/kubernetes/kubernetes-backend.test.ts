// The kubernetes backend passes the shared RuntimeBackend suite against the fake cluster, whose
// pods are local processes: the init container really fetches the build over HTTP and requests
// really reach the model server. Then what only a cluster does: claiming pods, the Deployment it
// writes, a new control plane adopting pods, and failures in plain words.
import { until } from '../../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import { runBackendSuite, waitFor } from '../backend-suite.ts';
import { FakeCluster } from '../../../test/support/kubernetes/fake-cluster.ts';
import type { FakeNode } from '../../../test/support/kubernetes/fake-cluster.ts';
import { plinthImageTable, TEST_IMAGES } from '../../../test/support/kubernetes/plinth-images.ts';
import type { KubernetesBackendOptions } from './kubernetes-backend.ts';
import { ECHO, NAMESPACE, startRig } from '../../../test/support/kubernetes/backend-rig.ts';
import type { Pod, Rig } from '../../../test/support/kubernetes/backend-rig.ts';

function rig(
  node: Partial<FakeNode> = {},
  extra: Partial<KubernetesBackendOptions> = {},
): Promise<Rig<FakeCluster>> {
  return startRig(new FakeCluster({ images: plinthImageTable(), node }), { images: TEST_IMAGES, ...extra });
}

runBackendSuite('kubernetes (fake cluster, pods as local processes)', async () => {
  const r = await rig();
  return { backend: r.backend, specFor: (s, d) => r.specFor(s, d), cleanup: () => r.cleanup() };
});

test('one Deployment per model deployment: labels, replicas set from starts and stops, resources, probes, a build fetched by its init container', async () => {
  const printed: { line: string; replicaId: string; modelId: string }[] = [];
  const r = await rig({}, { onLog: (replica, line) => printed.push({ line, ...replica }) });
  try {
    const one = r.specFor(ECHO, 'd-web');
    const two = r.specFor(ECHO, 'd-web');
    const ready = waitFor(r.backend, (e) => e.type === 'ready' && e.replica.id === two.replicaId);
    await r.backend.start(one);
    await r.backend.start(two);
    await ready;
    await waitFor(r.backend, (e) => e.type === 'ready' && e.replica.id === one.replicaId).catch(
      () => undefined,
    );
    const [deployment, ...others] = r.cluster.api.list('deployments', NAMESPACE) as unknown as V1Deployment[];
    assert.equal(others.length, 0, 'one Deployment for the model deployment');
    assert.equal(deployment!.spec!.replicas, 2);
    assert.deepEqual(
      [
        deployment!.metadata!.labels!['plinth.dev/deployment'],
        deployment!.metadata!.labels!['app.kubernetes.io/managed-by'],
      ],
      ['d-web', 'plinth'],
    );
    const pod = deployment!.spec!.template.spec!;
    const model = pod.containers[0]!;
    assert.deepEqual(model.resources, {
      requests: { cpu: '1000m', memory: String(2 * 1024 ** 3) },
      limits: { memory: String(2 * 1024 ** 3) },
    });
    assert.equal(model.readinessProbe!.httpGet!.path, '/v1/models/model');
    // is_healthy() is polled for the pod's life: liveness asks the model too, after startup.
    assert.equal(model.livenessProbe!.httpGet!.path, '/v1/models/model');
    assert.equal(model.startupProbe!.httpGet!.path, '/v1/models/model');
    assert.deepEqual(model.lifecycle!.preStop!.exec!.command, ['sleep', '1']);
    assert.match(pod.initContainers![0]!.command!.join(' '), /^plinth fetch-artifacts --app http/);

    // Each replica is bound to a pod of its own, and requests reach it.
    const pods = r.cluster.api.list('pods', NAMESPACE) as Pod[];
    assert.deepEqual(
      pods.map((p) => p.metadata.annotations?.['plinth.dev/replica-id']).sort(),
      [one.replicaId, two.replicaId].sort(),
    );
    const address = r.backend.list('d-web').find((h) => h.id === one.replicaId)!.address!;
    const res = await fetch(`http://${address}/v1/models/model:predict`, { method: 'POST', body: '{"x":1}' });
    const body = (await res.json()) as { greeting: string; cwd: string };
    assert.equal(
      body.greeting,
      'hello from a Secret',
      'environment variables reach the model through a Secret',
    );
    assert.match(body.cwd, /volumes\/app$/, 'the model runs in the app directory its init container fetched');
    const said = (await until(
      "the model's output followed through the pod log API",
      () => printed.find((p) => p.line === 'predicting {"x":1}'),
      (p) => p !== undefined,
      10_000,
      50,
    ))!;
    assert.deepEqual([said.replicaId, said.modelId], [one.replicaId, 'm-test']);

    // Stopping a replica removes its own pod (given the lowest deletion cost; the scale-down would
    // otherwise take the oldest of equals) and scales to 1.
    await r.backend.stop(two.replicaId, { drainMs: 1000 });
    const left = r.cluster.api.list('pods', NAMESPACE) as Pod[];
    assert.deepEqual(
      left.map((p) => p.metadata.annotations?.['plinth.dev/replica-id']),
      [one.replicaId],
    );
    assert.equal(
      (r.cluster.api.list('deployments', NAMESPACE)[0] as { spec: { replicas: number } }).spec.replicas,
      1,
    );
    assert.deepEqual(
      r.backend.list().map((h) => [h.id, h.phase]),
      [[one.replicaId, 'READY']],
    );
  } finally {
    await r.backend.close();
    await r.cleanup();
  }
});

test('a new control plane adopts the pods the last one bound, and can stop them', async () => {
  const r = await rig();
  try {
    const spec = r.specFor(ECHO, 'd-adopt');
    const ready = waitFor(r.backend, (e) => e.type === 'ready');
    await r.backend.start(spec);
    const address = (await ready).replica.address;
    const next = r.newBackend();
    // Subscribed before adopting, as the server does: an adopted pod may be ready at once.
    const readyAgain = waitFor(next, (e) => e.type === 'ready' && e.replica.id === spec.replicaId);
    const adopted = await next.adopt();
    assert.deepEqual(
      adopted.map((h) => [h.id, h.deploymentId]),
      [[spec.replicaId, 'd-adopt']],
    );
    await readyAgain;
    assert.equal(next.list('d-adopt')[0]!.address, address, 'the same pod, at the same address');
    const exited = waitFor(next, (e) => e.type === 'exited');
    await next.stop(spec.replicaId, { drainMs: 1000 });
    const event = await exited;
    assert.equal(event.type === 'exited' && event.exit.expected, true, 'an asked-for stop');
    assert.deepEqual(r.cluster.api.list('pods', NAMESPACE), [], 'its pod is gone');
    await next.close();
  } finally {
    await r.backend.close();
    await r.cleanup();
  }
});

test('failures in plain words: a GPU the cluster lacks, an image that cannot be pulled, a build that cannot be fetched', async () => {
  const r = await rig({ gpus: 1, labels: { 'plinth.dev/accelerator': 'L4' } });
  try {
    // Asking for an H100 where the only node has an L4: the replica waits, and says why.
    const h100 = r.specFor(ECHO, 'd-gpu', {
      instanceType: 'H100x1',
      cpuMillis: 1000,
      memoryBytes: 1024 ** 3,
      accelerator: { kind: 'H100', count: 1 },
    });
    const pending = waitFor(r.backend, (e) => e.type === 'pending');
    await r.backend.start(h100);
    const waiting = await pending;
    assert.equal(waiting.type, 'pending');
    assert.match(
      waiting.type === 'pending' ? waiting.reason : '',
      /^the cluster has no room for it: 0\/1 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector/,
    );
    const deployment = r.cluster.api.list('deployments', NAMESPACE)[0] as {
      spec: { template: { spec: { nodeSelector: object; containers: { resources: { limits: object } }[] } } };
    };
    assert.deepEqual(deployment.spec.template.spec.nodeSelector, { 'plinth.dev/accelerator': 'H100' });
    assert.deepEqual(deployment.spec.template.spec.containers[0]!.resources.limits, {
      memory: String(1024 ** 3),
      'nvidia.com/gpu': '1',
    });
    await r.backend.stop(h100.replicaId, { drainMs: 0 });
    assert.deepEqual(r.backend.list(), [], 'a waiting replica stops at once');

    // An image the registry does not have.
    const badImage = r.newBackend({
      images: { ...TEST_IMAGES, node: 'registry.invalid/plinth/runtime-node:0.0' },
    });
    await badImage.adopt();
    const pulled = waitFor(badImage, (e) => e.type === 'exited');
    await badImage.start(r.specFor(ECHO, 'd-image'));
    const pullExit = await pulled;
    assert.equal(pullExit.type === 'exited' && pullExit.exit.expected, false);
    assert.match(
      pullExit.type === 'exited' ? pullExit.exit.reason : '',
      /^cannot pull image "registry\.invalid\/plinth\/runtime-node:0\.0": failed to pull/,
    );
    await badImage.close();

    // An init container whose key the control plane refuses.
    const badKey = r.newBackend({ apiKeySecret: { name: 'wrong-key', key: 'api-key' } });
    r.cluster.api.put('secrets', NAMESPACE, {
      metadata: { name: 'wrong-key' },
      data: { 'api-key': Buffer.from('plk_nope').toString('base64') },
    });
    await badKey.adopt();
    const refused = waitFor(badKey, (e) => e.type === 'exited');
    await badKey.start(r.specFor(ECHO, 'd-key'));
    const fetchExit = await refused;
    assert.match(
      fetchExit.type === 'exited' ? fetchExit.exit.reason : '',
      /^could not fetch the build from the control plane: error: cannot fetch http:\/\/127\.0\.0\.1:\d+\/app\?dir=.*: HTTP 401/,
    );
    await badKey.close();
  } finally {
    await r.backend.close();
    await r.cleanup();
  }
});

// Every manifest the kubernetes backend writes validates against the Kubernetes schemas (and the
// check itself catches what it should: an unknown field, a wrong type, a bad quantity).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manifestProblems } from '../../../test/support/kubernetes-schema.ts';
import type { ReplicaSpec } from '../backend.ts';
import {
  deploymentManifest,
  envSecret,
  groupName,
  secretFilesSecret,
  WEIGHTS_CACHE_PATH,
} from './manifests.ts';
import { customServerOf } from '../../domain/custom-server.ts';
import {
  MANIFEST_OPTIONS as OPTIONS,
  replicaSpec as spec,
} from '../../../test/support/kubernetes/manifest-fixtures.ts';

const CASES: [string, ReplicaSpec][] = [
  ['a TypeScript model on CPU', spec()],
  [
    'a Python model with a prepared environment',
    spec({ language: 'python', modelFile: 'model/model.py', envDir: '/var/lib/plinth/environments/py-3f2a' }),
  ],
  [
    "a Python model over Truss's base environment",
    spec({
      language: 'python',
      modelFile: 'model/model.py',
      envDir: '/var/lib/plinth/environments/py-3f2a',
      baseEnvDir: '/var/lib/plinth/python-base/python3.11-0123456789abcdef',
    }),
  ],
  [
    'a model on two H100s',
    spec({
      resources: {
        instanceType: 'H100x2',
        cpuMillis: 24000,
        memoryBytes: 160 * 1024 ** 3,
        accelerator: { kind: 'H100', count: 2 },
      },
    }),
  ],
];

for (const [name, s] of CASES) {
  test(`the Deployment and Secret for ${name} validate against the Kubernetes schemas`, () => {
    assert.deepEqual(manifestProblems(deploymentManifest(s, OPTIONS, 3)), []);
    assert.deepEqual(manifestProblems(envSecret(s, OPTIONS)), []);
  });
}

test('a pod is labelled with the revision it runs, so that a new control plane adopts it as that revision', () => {
  const manifest = deploymentManifest(spec({ revision: 4 }), OPTIONS, 1);
  assert.equal(manifest.spec!.template.metadata!.labels!['plinth.dev/revision'], '4');
});

test('names and labels are what Kubernetes accepts, however ids and instance types are spelled', () => {
  const long = spec({
    deploymentId: 'd_' + 'X'.repeat(80),
    resources: { instanceType: 'A100 80GB × 8', cpuMillis: 1000, memoryBytes: 1024 ** 3, accelerator: null },
  });
  const name = groupName(long, OPTIONS);
  assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.ok(name.length <= 63, `${name} is at most 63 characters`);
  const manifest = deploymentManifest(long, OPTIONS, 1);
  for (const value of Object.values(manifest.metadata!.labels!))
    assert.match(value, /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, `label value ${value}`);
  assert.ok(
    Object.values(manifest.metadata!.labels!).every((v) => v.length <= 63),
    'label values fit',
  );
  assert.notEqual(
    groupName(long, OPTIONS),
    groupName({ ...long, deploymentId: long.deploymentId + 'Y' }, OPTIONS),
    'distinct names',
  );
});

test('the Python Deployment fetches the environment to where it was built; the GPU one asks for GPUs on their kind of node', () => {
  const python = deploymentManifest(CASES[1]![1], OPTIONS, 1).spec!.template.spec!;
  assert.deepEqual(python.initContainers![0]!.command!.slice(-4), [
    '--environment',
    OPTIONS.artifacts.environment,
    '--environment-into',
    '/var/lib/plinth/environments/py-3f2a',
  ]);
  assert.deepEqual(python.containers[0]!.command, ['plinth-replica-python']);
  const gpu = deploymentManifest(CASES[3]![1], OPTIONS, 1).spec!.template.spec!;
  assert.equal(gpu.containers[0]!.resources!.limits!['nvidia.com/gpu'], '2');
  assert.deepEqual(gpu.nodeSelector, { 'plinth.dev/accelerator': 'H100' });
  assert.deepEqual(gpu.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  // Secret values are in the Secret, never in the pod template.
  assert.doesNotMatch(JSON.stringify(deploymentManifest(spec(), OPTIONS, 1)), /s3cret/);
});

test("Truss's base environment is fetched too, to where it was built (the environment's .pth file names it there)", () => {
  const base = '/var/lib/plinth/python-base/python3.11-0123456789abcdef';
  const pod = deploymentManifest(CASES[2]![1], OPTIONS, 1).spec!.template.spec!;
  assert.deepEqual(pod.initContainers![0]!.command!.slice(-8), [
    '--environment',
    OPTIONS.artifacts.environment,
    '--environment-into',
    '/var/lib/plinth/environments/py-3f2a',
    '--base-environment',
    OPTIONS.artifacts.baseEnvironment,
    '--base-environment-into',
    base,
  ]);
  for (const container of [pod.initContainers![0]!, pod.containers[0]!])
    assert.ok(
      container.volumeMounts!.some((m) => m.name === 'python-base' && m.mountPath === base),
      container.name,
    );
  assert.deepEqual(
    pod.volumes!.find((v) => v.name === 'python-base'),
    { name: 'python-base', emptyDir: {} },
  );
  // A build without one (its base was not ready, or an older build) fetches none.
  const without = deploymentManifest(CASES[1]![1], OPTIONS, 1).spec!.template.spec!;
  assert.doesNotMatch(JSON.stringify(without), /python-base|--base-environment/);
});

test('the schema check catches an unknown field, a wrong type and a bad quantity', () => {
  const bad = deploymentManifest(spec(), OPTIONS, 1) as unknown as {
    spec: { replcas?: number; template: { spec: { containers: Record<string, unknown>[] } } };
  };
  bad.spec.replcas = 2;
  const container = bad.spec.template.spec.containers[0]!;
  container['ports'] = [{ containerPort: '8080' }];
  container['resources'] = { requests: { memory: '2 gigs' } };
  const problems = manifestProblems(bad);
  assert.ok(
    problems.some((p) => /unknown field "replcas"/.test(p)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => /containerPort must be integer/.test(p)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => /"2 gigs" is not a quantity/.test(p)),
    problems.join('\n'),
  );
});

test('a replica pod runs as a non-root user, with no service-account token, no privilege escalation and no capabilities', () => {
  const pod = deploymentManifest(spec(), OPTIONS, 1).spec!.template.spec!;
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.ok((pod.securityContext?.runAsUser ?? 0) > 0);
  for (const c of [...pod.initContainers!, ...pod.containers]) {
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false, c.name);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], c.name);
  }
});

test("a custom server's pod runs its base image and start command on its port, probed on its own endpoints, its secrets at /secrets", () => {
  const server = customServerOf({
    docker_server: {
      start_command: 'vllm serve m --port ${PORT:-8000}',
      server_port: 8000,
      predict_endpoint: '/v1/completions',
      readiness_endpoint: '/health',
      liveness_endpoint: '/live',
    },
    runtime: { health_checks: { startup_threshold_seconds: 600, restart_threshold_seconds: 120 } },
  })!;
  const s = spec({
    language: 'python',
    modelFile: '',
    envDir: '/var/lib/plinth/environments/py-1',
    server,
    config: { base_image: { image: 'vllm/vllm-openai:v0.9.0' } },
    env: { PLINTH_SECRETS_JSON: '{"hf_token":"s3cret"}' },
  });
  const d = deploymentManifest(s, OPTIONS, 1);
  assert.deepEqual(manifestProblems(d), []);
  const pod = d.spec!.template.spec!;
  const c = pod.containers[0]!;
  assert.equal(c.image, 'vllm/vllm-openai:v0.9.0');
  assert.deepEqual(c.command, ['sh', '-c', 'vllm serve m --port ${PORT:-8000}']);
  assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8000 }]);
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  assert.equal(env.PORT, '8000');
  assert.match(env.PATH!, /^\/var\/lib\/plinth\/environments\/py-1\/bin:/);
  assert.equal(c.readinessProbe?.httpGet?.path, '/health');
  assert.equal(c.startupProbe?.httpGet?.path, '/health');
  assert.equal(c.startupProbe!.periodSeconds! * c.startupProbe!.failureThreshold!, 600);
  assert.equal(c.livenessProbe?.httpGet?.path, '/live');
  assert.equal(c.livenessProbe!.periodSeconds! * c.livenessProbe!.failureThreshold!, 120);
  assert.deepEqual(
    c.volumeMounts?.find((m) => m.mountPath === '/secrets'),
    { name: 'secrets', mountPath: '/secrets', readOnly: true },
  );
  const secrets = secretFilesSecret(s, OPTIONS);
  assert.deepEqual(manifestProblems(secrets), []);
  assert.equal(pod.volumes?.find((v) => v.name === 'secrets')?.secret?.secretName, secrets.metadata!.name);
  assert.equal(Buffer.from(secrets.data!.hf_token!, 'base64').toString(), 's3cret');
  // Without a base image, the Python runtime image.
  assert.equal(
    deploymentManifest({ ...s, config: {} }, OPTIONS, 1).spec!.template.spec!.containers[0]!.image,
    OPTIONS.images.python,
  );
});

test("a model server's pod polls is_healthy() for its life with runtime.health_checks' thresholds", () => {
  const config = {
    runtime: {
      health_checks: {
        startup_threshold_seconds: 900,
        stop_traffic_threshold_seconds: 5,
        restart_threshold_seconds: 60,
        restart_check_delay_seconds: 30,
      },
    },
  };
  const d = deploymentManifest(spec({ language: 'python', config }), OPTIONS, 1);
  assert.deepEqual(manifestProblems(d), []);
  const c = d.spec!.template.spec!.containers[0]!;
  for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe])
    assert.equal(probe?.httpGet?.path, '/v1/models/model');
  assert.equal(c.startupProbe!.periodSeconds! * c.startupProbe!.failureThreshold!, 900);
  assert.equal(c.readinessProbe!.periodSeconds! * c.readinessProbe!.failureThreshold!, 5);
  assert.equal(c.livenessProbe!.periodSeconds! * c.livenessProbe!.failureThreshold!, 60);
  assert.equal(c.livenessProbe!.initialDelaySeconds, 30);
});

test('a build with weights mounts the shared cache volume: the init container fetches into it, the model reads it', () => {
  const options = {
    ...OPTIONS,
    artifacts: { ...OPTIONS.artifacts, weights: 'http://plinth.plinth.svc:4780/v1/weights' },
    weightsCacheClaim: 'shared-weights',
  };
  const manifest = deploymentManifest(spec({ language: 'python', modelFile: 'model/model.py' }), options, 2);
  assert.deepEqual(manifestProblems(manifest), []);
  const pod = manifest.spec!.template.spec!;
  assert.deepEqual(pod.volumes!.find((v) => v.name === 'weights-cache')?.persistentVolumeClaim, {
    claimName: 'shared-weights',
  });
  const init = pod.initContainers![0]!;
  assert.deepEqual(init.command!.slice(-4), [
    '--weights',
    'http://plinth.plinth.svc:4780/v1/weights',
    '--weights-cache',
    WEIGHTS_CACHE_PATH,
  ]);
  assert.equal(init.volumeMounts!.find((m) => m.name === 'weights-cache')?.readOnly, false);
  assert.equal(pod.containers[0]!.volumeMounts!.find((m) => m.name === 'weights-cache')?.readOnly, true);
  // Without weights, no volume.
  assert.ok(
    !deploymentManifest(spec(), OPTIONS, 1).spec!.template.spec!.volumes!.some(
      (v) => v.name === 'weights-cache',
    ),
  );
});

test("a model class with a base_image runs on that image's Python, with Plinth's model server copied in and the environment first", () => {
  const s = spec({
    language: 'python',
    modelFile: 'model/model.py',
    envDir: '/var/lib/plinth/environments/py-3f2a',
    config: {
      base_image: {
        image: 'nvcr.io/nvidia/pytorch:24.01-py3',
        python_executable_path: '/usr/bin/python3.11',
      },
    },
  });
  const manifest = deploymentManifest(s, OPTIONS, 1);
  assert.deepEqual(manifestProblems(manifest), []);
  const pod = manifest.spec!.template.spec!;
  const model = pod.containers[0]!;
  assert.equal(model.image, 'nvcr.io/nvidia/pytorch:24.01-py3');
  assert.deepEqual(model.command, ['/usr/bin/python3.11', '-u', '/plinth/model-server/server.py']);
  assert.ok(model.env!.some((e) => e.name === 'PLINTH_ENV_SITE' && e.value === '1'));
  assert.ok(model.volumeMounts!.some((m) => m.mountPath === '/plinth/model-server' && m.readOnly));
  const fetch = pod.initContainers![0]!;
  assert.deepEqual(fetch.command!.slice(-2), ['--model-server-into', '/plinth/model-server']);
  assert.ok(pod.volumes!.some((v) => v.name === 'model-server' && v.emptyDir));
  // Without python_executable_path: python3. A custom server's base_image is its own (above).
  const plain = spec({
    language: 'python',
    modelFile: 'model/model.py',
    config: { base_image: { image: 'img:1' } },
  });
  assert.equal(
    deploymentManifest(plain, OPTIONS, 1).spec!.template.spec!.containers[0]!.command![0],
    'python3',
  );
  const none = deploymentManifest(spec({ language: 'python', modelFile: 'model/model.py' }), OPTIONS, 1);
  assert.deepEqual(none.spec!.template.spec!.containers[0]!.command, ['plinth-replica-python']);
});

// e2e: `plinth up --runtime kubernetes` against the fake cluster (its pods are local processes):
// a pushed model runs in a pod that fetched its build from the server's artifact API, answers
// through the gateway, scales to zero (the pod goes) and wakes on a request (a new pod); a Python
// development deployment live-reloads on pods; the RBAC deploy/ grants is what was used.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { FakeCluster } from '../support/kubernetes/fake-cluster.ts';
import { plinthImageTable } from '../support/kubernetes/plinth-images.ts';
import { writeTree } from '../support/write-tree.ts';
import { BIN, load, PYTHON_BASE_DIR, REPO, startPlatform, stdlibServerConfig, until } from './harness.ts';
import type { Platform } from './harness.ts';
import { freePort } from '../support/free-port.ts';

const NAMESPACE = 'plinth';
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-k8s-'));
const cluster = new FakeCluster({ images: plinthImageTable() });
let platform: Platform;

type Pod = {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
};

function kubeconfig(file: string, server: string): string {
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'plinth', user: {} }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'plinth' } }],
      'current-context': 'fake',
    }),
  );
  return file;
}

before(async () => {
  const url = await cluster.start();
  process.env.KUBECONFIG = kubeconfig(join(scratch, 'kubeconfig'), url);
  const port = await freePort();
  platform = await startPlatform(undefined, [
    '--port',
    String(port),
    '--runtime',
    'kubernetes',
    '--kube-namespace',
    NAMESPACE,
    '--public-url',
    `http://127.0.0.1:${port}`,
  ]);
});
after(async () => {
  await platform?.stop();
  await cluster.close();
  delete process.env.KUBECONFIG;
  rmSync(scratch, { recursive: true, force: true });
});

test('a pushed model runs in a pod, answers through the gateway, scales to zero and wakes in a new pod', async () => {
  // The start-up lines follow the one the harness waits for.
  await until(
    'the start-up line naming the cluster',
    async () => platform.output(),
    (o) =>
      /Replicas: pods in namespace "plinth" of the Kubernetes cluster at http:\/\/127\.0\.0\.1:\d+/.test(o),
    10_000,
  );
  const keySecret = cluster.api.get('secrets', NAMESPACE, 'plinth-artifacts') as
    { data: Record<string, string> } | undefined;
  assert.match(
    Buffer.from(keySecret?.data['api-key'] ?? '', 'base64').toString(),
    /^plk_/,
    'the control plane wrote the key its pods fetch builds with',
  );

  const dir = writeTree(join(scratch, 'podded'), {
    'config.yaml': [
      'model_name: podded',
      'autoscaling:',
      '  min_replica: 0',
      '  scale_down_delay: 2',
      '  autoscaling_window: 2',
      '',
    ].join('\n'),
    'model/model.ts': `export class Model {
  predict(input: { text: string }) {
    console.log('shouting ' + input.text);
    return { pod: process.env.HOSTNAME, cwd: process.cwd(), upper: input.text.toUpperCase() };
  }
}\n`,
  });
  const pushed = await platform.cli(['push', dir, '--output', 'json']);
  assert.equal(pushed.code, 0, pushed.stderr + pushed.stdout);
  const deploymentId = (JSON.parse(pushed.stdout) as { deployment_id: string }).deployment_id;

  const predict = async (): Promise<{ pod: string; cwd: string; upper: string }> => {
    const res = await fetch(`${platform.url}/models/podded/production/predict`, {
      method: 'POST',
      headers: { authorization: `Api-Key ${platform.apiKey}` },
      body: JSON.stringify({ text: 'in a pod' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { pod: string; cwd: string; upper: string };
  };
  const first = await predict();
  assert.equal(first.upper, 'IN A POD');
  assert.match(first.cwd, /volumes\/app$/, 'the model runs from the build its init container fetched');
  const pods = cluster.api.list('pods', NAMESPACE) as Pod[];
  assert.deepEqual(
    pods.map((p) => p.metadata.name),
    [first.pod],
    'the one pod of the deployment answered',
  );
  assert.equal(pods[0]!.metadata.labels?.['plinth.dev/deployment'], deploymentId);
  const replicas = await platform.api<{ replicas: { id: string }[] }>(
    'GET',
    `/v1/models/podded/deployments/${deploymentId}/replicas`,
  );
  assert.deepEqual(
    replicas.body.replicas.map((r) => r.id),
    [pods[0]!.metadata.annotations?.['plinth.dev/replica-id']],
    'the replica the API lists is the one bound to the pod',
  );

  // What the model printed in its pod reaches the deployment's logs, with its replica and request.
  const logged = await until(
    "the model's line in the deployment's logs",
    async () =>
      (
        await platform.api<{
          logs: { source: string; replica: string; request_id: string | null; message: string }[];
        }>('GET', `/v1/models/podded/deployments/${deploymentId}/logs?search=shouting`)
      ).body.logs,
    (logs) => logs.length > 0,
    30_000,
  );
  assert.deepEqual(
    [logged[0]!.source, logged[0]!.replica, logged[0]!.message],
    ['replica', replicas.body.replicas[0]!.id, 'shouting in a pod'],
  );
  assert.match(logged[0]!.request_id ?? '', /./, 'the line carries the id of the request that printed it');

  // Idle: the deployment scales to zero and its pod goes.
  await until(
    'the pod gone at zero',
    async () => cluster.api.list('pods', NAMESPACE).length,
    (n) => n === 0,
    60_000,
  );
  assert.deepEqual(cluster.api.list('deployments', NAMESPACE), [], 'its Deployment is removed at zero');

  // A request at zero wakes it: a new pod answers.
  const woken = await predict();
  assert.equal(woken.upper, 'IN A POD');
  assert.notEqual(woken.pod, first.pod, 'a new pod');
});

test('a Python development deployment live-reloads on pods: each patch is fetched by revision, no request fails', async () => {
  const version = (n: number): string =>
    `import os\n\nimport fastapi\n\n\nclass Model:\n    def predict(self, model_input):\n        return {"version": ${n}, "pod": os.environ.get("HOSTNAME"), "fastapi": fastapi.__version__}\n`;
  const dir = writeTree(join(scratch, 'devpy'), {
    'config.yaml': 'model_name: devpy\n',
    'model/model.py': version(1),
  });
  const predict = async (): Promise<{ status: number; version?: number; pod?: string }> => {
    try {
      const res = await fetch(`${platform.url}/models/devpy/development/predict`, {
        method: 'POST',
        headers: { authorization: `Api-Key ${platform.apiKey}` },
        body: '{}',
      });
      return { status: res.status, ...((await res.json()) as { version?: number; pod?: string }) };
    } catch (err) {
      return { status: 0, pod: String(err) };
    }
  };
  const watch = platform.background(['push', '--watch', dir]);
  let traffic: ReturnType<typeof load<Awaited<ReturnType<typeof predict>>>> | undefined;
  try {
    await watch.waitFor(/Watching/, 180_000);
    const first = await predict();
    assert.equal(first.version, 1, JSON.stringify(first));
    // Truss's base environment (fastapi, unlisted) was fetched into the pod beside its own venv.
    assert.match((first as { fastapi?: string }).fastapi ?? '', /^0\./);
    const [fetched] = cluster.api.list('deployments', NAMESPACE) as {
      spec: { template: { spec: { initContainers: { command: string[] }[] } } };
    }[];
    const command = fetched!.spec.template.spec.initContainers[0]!.command;
    assert.ok(
      command[command.indexOf('--base-environment-into') + 1]?.startsWith(PYTHON_BASE_DIR),
      command.join(' '),
    );
    traffic = load(2, predict);
    writeFileSync(join(dir, 'model', 'model.py'), version(2));
    const second = await until('version 2 answering', predict, (a) => a.version === 2, 120_000);
    assert.notEqual(second.pod, first.pod, 'the new code runs in a new pod');
    const answers = await traffic.stop();
    assert.ok(answers.length > 10, `the client kept sending (${answers.length} requests)`);
    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
      'no failed request during the reload',
    );
    // The old version's Deployment goes once its pod has stopped.
    await until(
      'one Deployment left for the development deployment',
      async () => cluster.api.list('deployments', NAMESPACE).length,
      (n) => n === 1,
      60_000,
    );
  } finally {
    await traffic?.stop();
    await watch.stop();
  }
});

test('a custom server runs in a pod on its own port and probes, with its secrets as files, and answers through the gateway', async () => {
  const dir = join(scratch, 'custom');
  cpSync(join(REPO, 'test', 'e2e', 'fixtures', 'stdlib-server'), dir, { recursive: true });
  writeTree(dir, {
    'config.yaml': stdlibServerConfig('custom-pod', ['secrets:', '  greeting: hello from a file']),
  });
  const pushed = await platform.cli(['push', dir, '--output', 'json']);
  assert.equal(pushed.code, 0, pushed.stdout + pushed.stderr);
  const { model_id } = JSON.parse(pushed.stdout) as { model_id: string };
  const base = `${platform.url}/models/${model_id}/environments/production`;
  const auth = { authorization: `Api-Key ${platform.apiKey}` };
  const predicted = await fetch(`${base}/predict`, { method: 'POST', headers: auth, body: '{"x":1}' });
  assert.equal(predicted.status, 200, await predicted.clone().text());
  assert.deepEqual(((await predicted.json()) as { echo: unknown; port: number }).echo, { x: 1 });
  const secret = await fetch(`${base}/sync/secret/greeting`, { headers: auth });
  assert.deepEqual(await secret.json(), { secret: 'hello from a file' });
  const pod = cluster.api
    .list('pods', NAMESPACE)
    .find(
      (p) => (p.metadata as { labels?: Record<string, string> }).labels?.['plinth.dev/model'] === model_id,
    )!;
  const container = (pod.spec as { containers: { command: string[]; ports: { containerPort: number }[] }[] })
    .containers[0]!;
  assert.deepEqual(container.command, ['sh', '-c', 'python server.py $PORT']);
  assert.equal(container.ports[0]!.containerPort, 8000);
});

test('the RBAC rules deploy/ grants the control plane are exactly what it used', () => {
  const rbac = parseAllDocuments(readFileSync(join(REPO, 'deploy', 'kubernetes', 'rbac.yaml'), 'utf8')).map(
    (d) =>
      d.toJS() as { kind: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] },
  );
  const granted = new Set(
    rbac
      .filter((doc) => doc.kind === 'Role' || doc.kind === 'ClusterRole')
      .flatMap((doc) => doc.rules ?? [])
      .flatMap((rule) =>
        rule.apiGroups.flatMap((group) =>
          rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${verb} ${group}/${resource}`)),
        ),
      ),
  );
  assert.deepEqual([...cluster.api.requests].sort(), [...granted].sort());
});

test('plinth up --runtime kubernetes names what is wrong: no --public-url, an unreachable API server', async () => {
  const run = (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [BIN, 'up', '--port', '0', '--home', join(scratch, 'bad'), ...args], {
        cwd: REPO,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
      c.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  const noUrl = await run(['--runtime', 'kubernetes'], {});
  assert.equal(noUrl.code, 1, noUrl.stderr);
  assert.match(
    noUrl.stderr,
    /^error: --public-url \(none\): with --runtime kubernetes, give the http\(s\):\/\/ URL/,
  );

  const closed = await freePort();
  const unreachable = await run(['--runtime', 'kubernetes', '--public-url', 'http://127.0.0.1:4780'], {
    KUBECONFIG: kubeconfig(join(scratch, 'closed-kubeconfig'), `http://127.0.0.1:${closed}`),
  });
  assert.equal(unreachable.code, 1, unreachable.stderr);
  assert.match(
    unreachable.stderr,
    new RegExp(
      `^error: cannot use the Kubernetes API at http://127\\.0\\.0\\.1:${closed} \\(namespace "default"\\): .*ECONNREFUSED`,
    ),
  );
  assert.doesNotMatch(unreachable.stderr, /internal error|\n\s+at /, 'no stack trace');
});

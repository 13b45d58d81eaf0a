// The fake API server is only worth its tests if it speaks Kubernetes: the real kubectl (Debian's
// kubernetes-client, or $KUBECTL) lists, applies, patches and deletes against it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FakeKubernetes } from './fake-api-server.ts';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const fake = new FakeKubernetes();
const scratch = mkdtempSync(join(tmpdir(), 'plinth-kubectl-'));
before(async () => {
  await fake.start();
});
after(async () => {
  await fake.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs kubectl against the fake (asynchronously: the fake answers from this very process). */
function kubectl(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      KUBECTL,
      ['--server', fake.url, '--cache-dir', join(scratch, 'cache'), '--namespace', 'default', ...args],
      { env: { ...process.env, KUBECONFIG: join(scratch, 'kubeconfig') } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', (err) =>
      reject(new Error(`cannot run ${KUBECTL} (install Debian's kubernetes-client): ${err.message}`)),
    );
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const manifest = (replicas: number) =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'hello', labels: { 'plinth.dev/model': 'hello' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'hello' } },
      template: {
        metadata: { labels: { app: 'hello' } },
        spec: { containers: [{ name: 'model', image: 'plinth/runtime-node:0.1' }] },
      },
    },
  });

test('kubectl applies a Deployment to the fake, lists it, applies a change as a patch and deletes it', async () => {
  const file = join(scratch, 'deployment.json');
  writeFileSync(file, manifest(1));
  const created = await kubectl('apply', '--validate=false', '-f', file);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /deployment\.apps\/hello created/);

  const listed = await kubectl('get', 'deployments', '-o', 'json');
  assert.equal(listed.code, 0, listed.stderr);
  const items = (JSON.parse(listed.stdout) as { items: { metadata: { name: string } }[] }).items;
  assert.deepEqual(
    items.map((i) => i.metadata.name),
    ['hello'],
  );

  writeFileSync(file, manifest(3));
  const changed = await kubectl('apply', '--validate=false', '-f', file);
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(changed.stdout, /deployment\.apps\/hello configured/);
  const got = await kubectl('get', 'deploy', 'hello', '-o', 'json');
  const d = JSON.parse(got.stdout) as {
    spec: { replicas: number };
    metadata: { generation: number; labels: object };
  };
  assert.equal(d.spec.replicas, 3);
  assert.equal(d.metadata.generation, 2);
  assert.deepEqual(d.metadata.labels, { 'plinth.dev/model': 'hello' });

  const deleted = await kubectl('delete', 'deployment', 'hello');
  assert.equal(deleted.code, 0, deleted.stderr);
  const gone = await kubectl('get', 'deployment', 'hello', '-o', 'json');
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /NotFound|not found/);
});

test('a watch streams what changes: the objects there, then additions, changes and deletions', async () => {
  const res = await fetch(`${fake.url}/api/v1/namespaces/default/pods?watch=true`);
  const reader = res.body!.getReader();
  const events: { type: string; object: { metadata: { name: string } } }[] = [];
  let buffered = '';
  const next = async () => {
    while (!buffered.includes('\n')) {
      const { value } = await reader.read();
      buffered += new TextDecoder().decode(value);
    }
    const i = buffered.indexOf('\n');
    events.push(JSON.parse(buffered.slice(0, i)) as (typeof events)[number]);
    buffered = buffered.slice(i + 1);
  };
  const pod = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' }, spec: {} });
  writeFileSync(join(scratch, 'pod.json'), pod);
  assert.equal((await kubectl('apply', '--validate=false', '-f', join(scratch, 'pod.json'))).code, 0);
  await next();
  fake.setStatus('pods', 'default', 'p1', { phase: 'Running' });
  await next();
  assert.equal((await kubectl('delete', 'pod', 'p1')).code, 0);
  await next();
  await reader.cancel();
  assert.deepEqual(
    events.map((e) => [e.type, e.object.metadata.name]),
    [
      ['ADDED', 'p1'],
      ['MODIFIED', 'p1'],
      ['DELETED', 'p1'],
    ],
  );
});

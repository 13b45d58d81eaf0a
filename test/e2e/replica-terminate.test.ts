// e2e: `plinth replicas terminate` under load, on the local backend and on the kubernetes one
// (the fake cluster's pods). Two replicas serve a model that works ~200 ms per
// request, one at a time each, with four clients sending without pause (so requests are inside
// both replicas and parked in the gateway); one replica is terminated. No request fails — not
// those inside it (they finish), not those parked (they wait for a ready replica) — the
// terminated replica ends STOPPED, and a replacement becomes READY and serves.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort } from '../support/free-port.ts';
import { FakeCluster } from '../support/kubernetes/fake-cluster.ts';
import { plinthImageTable } from '../support/kubernetes/plinth-images.ts';
import { writeTree } from '../support/write-tree.ts';
import { load, pushed, startPlatform, until } from './harness.ts';
import type { Platform } from './harness.ts';

interface Replica {
  id: string;
  status: string;
  in_flight: number;
  stopped_at: string | null;
}

const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-terminate-'));
const started: Platform[] = [];
const cluster = new FakeCluster({ images: plinthImageTable() });
after(async () => {
  for (const platform of started) await platform.stop();
  await cluster.close();
  delete process.env.KUBECONFIG;
  rmSync(scratch, { recursive: true, force: true });
});

/** A kubeconfig for the fake cluster's API server. */
function kubeconfig(file: string, server: string): string {
  const cluster = { server, 'insecure-skip-tls-verify': true };
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster }],
      users: [{ name: 'plinth', user: {} }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'plinth' } }],
      'current-context': 'fake',
    }),
  );
  return file;
}

/** The scenario, on a platform of either runtime backend. */
async function terminateUnderLoad(platform: Platform, name: string): Promise<void> {
  const dir = writeTree(join(scratch, name), {
    'config.yaml': `model_name: ${name}\nautoscaling:\n  min_replica: 2\n  max_replica: 2\n`,
    'model/model.ts':
      'export class Model {\n  async predict() {\n    await new Promise((r) => setTimeout(r, 200));\n    return { replica: `${process.env.HOSTNAME}/${process.pid}` };\n  }\n}\n',
  });
  const { model_id, deployment_id } = await pushed(platform, dir);
  // Run in the model directory, the CLI knows the model from its config.yaml.
  const list = async (): Promise<{ deployment_id: string; replicas: Replica[] }> => {
    const r = await platform.cli(['replicas', 'list', '--output', 'json'], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return JSON.parse(r.stdout) as { deployment_id: string; replicas: Replica[] };
  };
  const ready = (replicas: Replica[]) => replicas.filter((r) => r.status === 'READY');
  const listed = await until('two READY replicas', list, (l) => ready(l.replicas).length === 2, 60_000);
  assert.equal(listed.deployment_id, deployment_id);

  const clients = load(4, async () => {
    try {
      const res = await fetch(`${platform.url}/models/${model_id}/environments/production/predict`, {
        method: 'POST',
        body: '{}',
      });
      const text = await res.text();
      return {
        status: res.status,
        replica: res.status === 200 ? (JSON.parse(text) as { replica: string }).replica : '',
        text,
      };
    } catch (err) {
      return { status: 0, replica: '', text: (err as Error).message };
    }
  });
  let answers: Awaited<ReturnType<typeof clients.stop>> = [];
  try {
    await until(
      'both replicas answer',
      () => new Set(clients.answers.map((a) => a.replica)).size,
      (n) => n >= 2,
      30_000,
    );
    const answeredBy = new Set(clients.answers.map((a) => a.replica));
    // One with a request inside it: that request must finish.
    const busy = await until(
      'a replica with a request in flight',
      async () => (await list()).replicas.find((r) => r.status === 'READY' && r.in_flight > 0),
      Boolean,
      30_000,
    );
    const answeredBefore = clients.answers.length;
    const terminated = await platform.cli(['replicas', 'terminate', busy!.id, '--output', 'json'], {
      cwd: dir,
    });
    assert.equal(terminated.code, 0, terminated.stdout + terminated.stderr);
    const answer = JSON.parse(terminated.stdout) as Replica;
    assert.deepEqual([answer.id, answer.status], [busy!.id, 'DRAINING']);

    // Capacity comes back: two READY replicas again, the terminated one gone from the live list.
    const after = await until(
      'a replacement READY and the terminated replica gone',
      list,
      (l) => ready(l.replicas).length === 2 && !l.replicas.some((r) => r.id === busy!.id),
      60_000,
    );
    assert.ok(!after.replicas.some((r) => r.id === busy!.id));
    // Asked again, terminate answers the replica's state: it ended STOPPED.
    const again = await platform.cli(
      ['replicas', 'terminate', busy!.id, '--deployment', deployment_id, '--output', 'json'],
      { cwd: dir },
    );
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const ended = JSON.parse(again.stdout) as Replica;
    assert.equal(ended.status, 'STOPPED');
    assert.ok(ended.stopped_at);
    // The replacement serves: a replica that did not answer before the termination answers now.
    await until(
      'the replacement answers',
      () => clients.answers.slice(answeredBefore).some((a) => a.status === 200 && !answeredBy.has(a.replica)),
      Boolean,
      30_000,
    );
  } finally {
    answers = await clients.stop();
  }
  assert.ok(answers.length > 20, `the load ran (${answers.length} answers)`);
  assert.deepEqual(
    answers.filter((a) => a.status !== 200),
    [],
    `every request answered 200 while a replica was terminated (of ${answers.length})`,
  );
}

test('terminating a replica under load fails no request, and a replacement takes its place', async () => {
  const platform = await startPlatform();
  started.push(platform);
  await terminateUnderLoad(platform, 'slow');
});

test('on the kubernetes backend too (pods of the fake cluster)', async () => {
  const url = await cluster.start();
  process.env.KUBECONFIG = kubeconfig(join(scratch, 'kubeconfig'), url);
  const port = await freePort();
  const platform = await startPlatform(undefined, [
    ...['--port', String(port), '--runtime', 'kubernetes', '--kube-namespace', 'plinth'],
    ...['--public-url', `http://127.0.0.1:${port}`],
  ]);
  started.push(platform);
  await terminateUnderLoad(platform, 'podded');
});

// DELETE /v1/models/{m}/deployments/{d}/replicas/{r} on a real server in this process, with real
// replicas: ids of the wrong form or of nobody, a replica of another deployment, the scope it
// needs, and a repeat that answers the replica's state; the terminated replica is replaced.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pushBundle } from '../../../test/support/push-bundle.ts';
import { until } from '../../../test/support/wait.ts';
import { writeTree } from '../../../test/support/write-tree.ts';
import { packDirectory } from '../../bundle/pack.ts';
import { serverConfig } from '../../config/server-config.ts';
import { startServer } from '../../server.ts';
import type { RunningServer } from '../../server.ts';

interface Replica {
  id: string;
  status: string;
  stopped_at: string | null;
  exit_reason: string | null;
}

const home = mkdtempSync(join(tmpdir(), 'plinth-replicas-route-'));
let server: RunningServer;
/** deployment-1 and deployment-2 of model `twin`, one ready replica each. */
const deployments: string[] = [];

async function call(method: string, path: string, key = server.createdApiKey!) {
  const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Api-Key ${key}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const replicasOf = (d: string) => `/v1/models/twin/deployments/${d}/replicas`;

async function readyReplica(d: string): Promise<Replica> {
  const replicas = await until(
    `a ready replica of ${d}`,
    async () => (await call('GET', replicasOf(d))).body.replicas as Replica[],
    (list) => list.some((r) => r.status === 'READY'),
    60_000,
  );
  return replicas.find((r) => r.status === 'READY')!;
}

before(async () => {
  server = await startServer(serverConfig({ homeDir: join(home, 'home'), port: 0 }));
  const dir = writeTree(join(home, 'model'), {
    'config.yaml': 'autoscaling:\n  min_replica: 1\n',
    'model/model.mjs': 'export class Model { predict(x) { return x } }\n',
  });
  const bundle = await packDirectory(dir);
  for (let i = 0; i < 2; i++) {
    const pushed = await pushBundle(server.url, server.createdApiKey!, 'twin', bundle.bytes, bundle.sha256);
    assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
    deployments.push(pushed.body.id!);
  }
});
after(async () => {
  await server.close();
  rmSync(home, { recursive: true, force: true });
});

test('a replica id of the wrong form, or of nobody, is refused with the field named', async () => {
  const [d1] = deployments as [string];
  const bad = await call('DELETE', `${replicasOf(d1)}/not-a-replica`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'VALIDATION_ERROR');
  assert.match(bad.body.error.message, /^replica id "not-a-replica": expected "r" and 7 characters/);
  const nobody = await call('DELETE', `${replicasOf(d1)}/rzzzzzzz`);
  assert.equal(nobody.status, 404);
  assert.equal(nobody.body.error.code, 'REPLICA_NOT_FOUND');
  assert.match(nobody.body.error.message, /deployment deployment-1 \(d\w+\) has no replica rzzzzzzz/);
  assert.equal(
    (await call('DELETE', '/v1/models/nope/deployments/x/replicas/rzzzzzzz')).body.error.code,
    'MODEL_NOT_FOUND',
  );
  assert.equal(
    (await call('DELETE', `${replicasOf('nope')}/rzzzzzzz`)).body.error.code,
    'DEPLOYMENT_NOT_FOUND',
  );
});

test("another deployment's replica is not found there, and is left running", async () => {
  const [d1, d2] = deployments as [string, string];
  const theirs = await readyReplica(d2);
  const r = await call('DELETE', `${replicasOf(d1)}/${theirs.id}`);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, 'REPLICA_NOT_FOUND');
  const still = (await call('GET', replicasOf(d2))).body.replicas as Replica[];
  assert.deepEqual(
    still.map((x) => [x.id, x.status]),
    [[theirs.id, 'READY']],
  );
});

test('an inference key may not terminate replicas', async () => {
  const [d1] = deployments as [string];
  const created = await fetch(`${server.url}/v1/api_keys`, {
    method: 'POST',
    headers: { authorization: `Api-Key ${server.createdApiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'caller', scope: 'inference' }),
  });
  const { api_key } = (await created.json()) as { api_key: string };
  const replica = await readyReplica(d1);
  const r = await call('DELETE', `${replicasOf(d1)}/${replica.id}`, api_key);
  assert.equal(r.status, 403);
  assert.equal(r.body.error.code, 'FORBIDDEN');
  assert.equal((await readyReplica(d1)).id, replica.id);
});

test('a terminated replica drains and stops, a repeat answers its state, and a replacement serves', async () => {
  const [d1] = deployments as [string];
  const old = await readyReplica(d1);
  const first = await call('DELETE', `${replicasOf(d1)}/${old.id}`);
  assert.equal(first.status, 202);
  assert.equal(first.body.id, old.id);
  assert.equal(first.body.status, 'DRAINING');
  // Asked again while it stops, and after: its state, never an error nor a second stop.
  const again = await call('DELETE', `${replicasOf(d1)}/${old.id}`);
  assert.ok(
    (again.status === 202 && again.body.status === 'DRAINING') ||
      (again.status === 200 && again.body.status === 'STOPPED'),
    JSON.stringify(again),
  );
  const ended = await until(
    'the terminated replica stopped',
    () => call('DELETE', `${replicasOf(d1)}/${old.id}`),
    (r) => r.status === 200,
    30_000,
  );
  assert.equal(ended.body.status, 'STOPPED');
  assert.ok(ended.body.stopped_at);
  const replacement = await readyReplica(d1);
  assert.notEqual(replacement.id, old.id);
  const logs = (await call('GET', `/v1/models/twin/deployments/${d1}/logs`)).body.logs as {
    message: string;
  }[];
  assert.ok(
    logs.some((l) => l.message.startsWith(`replica ${old.id} terminated by API key "admin": draining`)),
    JSON.stringify(logs.map((l) => l.message)),
  );
});

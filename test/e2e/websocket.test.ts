// e2e: WebSockets through the gateway of the real server. A TypeScript model with websocket(ws)
// (fixtures/ws-echo) echoes on the path form and the host form, counts as concurrency while a
// connection is open, wakes from zero for a connection, refuses a caller without a key before any
// upgrade, and is reached by `plinth predict --websocket`; a custom server (fixtures/ws-server)
// takes a WebSocket on its own path through …/sync/{path}.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { writeTree } from '../support/write-tree.ts';
import { REPO, startPlatform, stdlibServerConfig, until } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
let echo: Pushed;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-ws-'));
const sockets: WebSocket[] = [];

interface Pushed {
  model_id: string;
  deployment_id: string;
}

async function push(fixture: string, config?: string): Promise<Pushed> {
  const dir = join(scratch, fixture);
  cpSync(join(REPO, 'test', 'e2e', 'fixtures', fixture), dir, { recursive: true });
  if (config) writeTree(dir, { 'config.yaml': config });
  const r = await platform.cli(['push', dir, '--output', 'json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as Pushed;
}

before(async () => {
  platform = await startPlatform();
  echo = await push('ws-echo');
});
after(async () => {
  for (const ws of sockets) ws.terminate();
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

type Opened = { ws: WebSocket } | { status: number; body: string };

/** Opens a WebSocket with the admin key (unless `headers` say otherwise): open, or the answer that refused it. */
function open(url: string, headers: Record<string, string> = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Api-Key ${platform.apiKey}`, ...headers } });
    ws.once('open', () => {
      sockets.push(ws);
      resolve({ ws });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    ws.once('error', reject);
  });
}

async function opened(url: string, headers?: Record<string, string>): Promise<WebSocket> {
  const r = await open(url, headers);
  if (!('ws' in r)) throw new Error(`not upgraded: ${r.status} ${r.body}`);
  return r.ws;
}

async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const answer = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send(text);
  return answer;
}

const wsBase = (): string => platform.url.replace('http', 'ws');
const pathForm = (model: string, rest = 'environments/production/websocket'): string =>
  `${wsBase()}/models/${model}/${rest}`;

async function deployment(p: Pushed): Promise<{ status: string; active_replica_count: number }> {
  const r = await platform.api<{ status: string; active_replica_count: number }>(
    'GET',
    `/v1/models/${p.model_id}/deployments/${p.deployment_id}`,
  );
  return r.body;
}

/** The gateway's concurrency of a deployment as /metrics shows it (what the autoscaler reads). */
async function concurrency(p: Pushed): Promise<number> {
  const text = await (await fetch(`${platform.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find(
      (l) => l.startsWith('plinth_concurrent_requests{') && l.includes(`deployment_id="${p.deployment_id}"`),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test('an echo round-trips on the path form and the host form, and an open connection counts as concurrency', async () => {
  const ws = await opened(pathForm(echo.model_id));
  assert.equal(await roundTrip(ws, 'hello'), 'hello');
  assert.equal(await concurrency(echo), 1, 'one open connection, one in flight');
  const replicas = await platform.api<{ replicas: { in_flight: number }[] }>(
    'GET',
    `/v1/models/${echo.model_id}/deployments/${echo.deployment_id}/replicas`,
  );
  assert.equal(
    replicas.body.replicas.reduce((sum, r) => sum + r.in_flight, 0),
    1,
    'the API shows it in flight on its replica',
  );
  const byHost = await opened(`${wsBase()}/production/websocket`, {
    host: `model-${echo.model_id}.localhost:${platform.port}`,
  });
  assert.equal(await roundTrip(byHost, 'by host'), 'by host');
  assert.equal(await concurrency(echo), 2);
  // Both slots of its one replica (predict_concurrency 2) are held: a third connection parks,
  // counted as queued, until one closes.
  const third = opened(pathForm('ws-echo', `deployment/${echo.deployment_id}/websocket`));
  await until(
    'the third parked',
    () => concurrency(echo),
    (n) => n === 3,
    10_000,
  );
  byHost.close(1000);
  const byDeployment = await third;
  assert.equal(await roundTrip(byDeployment, 'by deployment'), 'by deployment');
  for (const s of [ws, byDeployment]) s.close(1000);
  await until(
    'the connections closed',
    () => concurrency(echo),
    (n) => n === 0,
    10_000,
  );
});

test('a wrong or missing API key gets 401 and no upgrade', async () => {
  for (const authorization of ['', 'Api-Key wrong']) {
    const r = await open(pathForm(echo.model_id), { authorization });
    assert.ok('status' in r, 'not upgraded');
    assert.equal(r.status, 401);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
  }
});

test('plinth predict --websocket sends stdin lines and prints each message on its own line', async () => {
  const run = (args: string[], stdin: string) => platform.cli(args, { stdin });
  const r = await run(['predict', '--model', 'ws-echo', '--websocket'], 'one\ntwo words\n{"x": 3}\n');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'one\ntwo words\n{"x": 3}\n');
  const missing = await run(['predict', '--model', 'no-such-model', '--websocket'], 'x\n');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: .*not found/m);
  const mixed = await run(['predict', '--model', 'ws-echo', '--websocket', '-d', '{}'], '');
  assert.equal(mixed.code, 1);
  assert.match(mixed.stderr, /--websocket reads its messages from stdin/);
});

test('a deployment scaled to zero wakes for a WebSocket, and the echo works', async () => {
  await until(
    'scaled to zero',
    () => deployment(echo),
    (d) => d.status === 'SCALED_TO_ZERO' && d.active_replica_count === 0,
    60_000,
  );
  const ws = await opened(pathForm(echo.model_id));
  assert.equal(await roundTrip(ws, 'awake'), 'awake');
  assert.equal((await deployment(echo)).status, 'ACTIVE');
  ws.close(1000);
});

test('a custom server takes a WebSocket on its own path through …/sync/{path}', async () => {
  const server = await push('ws-server', stdlibServerConfig('ws-server'));
  const ws = await opened(pathForm(server.model_id, 'environments/production/sync/ws/echo?room=1'));
  assert.equal(await roundTrip(ws, 'through'), '/ws/echo?room=1:through');
  const closed = new Promise<number>((resolve) => ws.once('close', resolve));
  ws.close(1000);
  assert.equal(await closed, 1000);
  const elsewhere = await open(pathForm(server.model_id, 'production/sync/nope'));
  assert.ok('status' in elsewhere && elsewhere.status === 404, 'its own 404, relayed');
  const model = await open(pathForm(server.model_id, 'production/websocket'));
  assert.ok('status' in model && model.status === 404, '…/websocket is for model servers');
});

test("a Truss model's websocket(ws) (fastapi's WebSocket) echoes text, JSON and bytes through the gateway, counts while open, wakes from zero, and a raise closes with 1011", async () => {
  const truss = await push('truss-websocket');
  const ws = await opened(pathForm(truss.model_id));
  assert.equal(await roundTrip(ws, 'hi'), 'echo: hi');
  assert.deepEqual(JSON.parse(await roundTrip(ws, 'json')), { kind: 'json' });
  const bytes = new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
  ws.send('bytes');
  assert.deepEqual([...(await bytes)], [0, 1]);
  assert.equal(await concurrency(truss), 1, 'an open connection is in flight');
  const closedByModel = new Promise<number>((resolve) => ws.once('close', resolve));
  ws.send('close');
  assert.equal(await closedByModel, 1000);
  await until(
    'the connection left the concurrency count',
    () => concurrency(truss),
    (n) => n === 0,
    10_000,
  );

  await until(
    'scaled to zero',
    () => deployment(truss),
    (d) => d.status === 'SCALED_TO_ZERO' && d.active_replica_count === 0,
    60_000,
  );
  const woken = await opened(pathForm(truss.model_id));
  assert.equal(await roundTrip(woken, 'awake'), 'echo: awake');
  const broken = new Promise<number>((resolve) => woken.once('close', resolve));
  woken.send('raise');
  assert.equal(await broken, 1011);
  const logs = await until(
    'the traceback in the logs',
    async () => (await platform.cli(['logs', '--model', truss.model_id, '--level', 'error'])).stdout,
    (text) => /RuntimeError: the websocket model broke/.test(text),
    30_000,
  );
  assert.match(logs, /File ".*model\/model\.py", line \d+, in websocket/);
});

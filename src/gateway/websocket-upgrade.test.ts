// WebSockets through the gateway, over a real SQLite store, a real node:http server, a real `ws`
// client and fake replicas made of `ws`'s server: the key check, the handshake relayed, a slot held
// while open, parking and waking, failures answered on the socket, and every way a connection ends.
import { deploymentInput } from '../../test/support/deployment-input.ts';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { until } from '../../test/support/wait.ts';
import { PlinthError } from '../domain/errors.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import type { Deployment, RequestMeasure } from '../domain/types.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import type { Store } from '../store/store.ts';
import { Gateway } from './gateway.ts';
import type { GatewayOptions } from './gateway.ts';
import { listenForUpgrades } from './upgrade-listener.ts';
import { idleTimeoutMs } from './websocket-upgrade.ts';

const closers: (() => unknown)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function listening(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

interface FakeReplica {
  address: string;
  /** The upgrade requests it saw (path and headers). */
  seen: { url: string; headers: IncomingHttpHeaders }[];
  wss: WebSocketServer;
}

/** A replica that echoes each message, upgrading only with its token (401 without) and only on known paths. */
async function fakeReplica(paths = ['/v1/websocket']): Promise<FakeReplica> {
  const wss = new WebSocketServer({ noServer: true });
  const seen: FakeReplica['seen'] = [];
  const server = createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req, socket, head) => {
    seen.push({ url: req.url!, headers: req.headers });
    if (req.headers['x-plinth-replica-token'] !== 'tok')
      return socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 6\r\n\r\nno key');
    if (!paths.includes(req.url!.split('?')[0]!))
      return socket.end(
        'HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nno such',
      );
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, binary) => ws.send(binary ? data : `echo:${String(data)}`));
    });
  });
  const port = await listening(server);
  return { address: `127.0.0.1:${port}`, seen, wss };
}

interface Setup {
  store: Store;
  gateway: Gateway;
  base: string;
  port: number;
  deployment: Deployment;
  measures: RequestMeasure[];
  wakes: string[];
}

async function setup(
  options: GatewayOptions = {},
  input: { status?: DeploymentStatus; config?: Record<string, unknown> } = {},
): Promise<Setup> {
  const store = await openSqliteStore(':memory:');
  const model = await store.createModel('echo');
  const deployment = await store.createDeployment(
    deploymentInput(model.id, { status: input.status ?? 'ACTIVE', config: input.config ?? {} }),
  );
  const env = (await store.getEnvironment(model.id, 'production'))!;
  await store.updateEnvironment(env.id, { current_deployment_id: deployment.id });
  const gateway = new Gateway(store, {
    authorize: async (authorization) => {
      if (authorization !== 'Api-Key good')
        throw new PlinthError('UNAUTHENTICATED', 'a valid API key is needed');
    },
    ...options,
  });
  const measures: RequestMeasure[] = [];
  const wakes: string[] = [];
  gateway.requests.add((m) => measures.push(m));
  gateway.wakes.add((id) => wakes.push(id));
  const server = createServer((req, res) => {
    const route = gateway.match(req);
    if (route) return void gateway.handle(req, res, route);
    res.end('not inference');
  });
  listenForUpgrades(server, gateway);
  const port = await listening(server);
  closers.push(async () => {
    await gateway.close();
    await store.close();
  });
  return { store, gateway, base: `ws://127.0.0.1:${port}`, port, deployment, measures, wakes };
}

/** Opens a WebSocket; resolves once open, or with the HTTP answer that refused it. */
function open(
  url: string,
  headers: Record<string, string> = { authorization: 'Api-Key good' },
): Promise<{ ws: WebSocket } | { status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    ws.once('error', reject);
  });
}

async function opened(url: string, headers?: Record<string, string>): Promise<WebSocket> {
  const r = await open(url, headers);
  if (!('ws' in r)) throw new Error(`not upgraded: ${r.status} ${r.body}`);
  closers.push(() => r.ws.terminate());
  return r.ws;
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(String(data))));
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve(-1);
    ws.once('close', (code) => resolve(code));
  });
}

test('an echo round-trips on the host form and the path form, holding one slot while open', async () => {
  const s = await setup();
  const replica = await fakeReplica();
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r1', address: replica.address, token: 'tok' }]);
  const byPath = await opened(`${s.base}/models/echo/environments/production/websocket?lang=en`, {
    authorization: 'Api-Key good',
    'x-request-id': 'req-1',
    'x-custom': 'kept',
  });
  assert.equal(s.gateway.concurrency(s.deployment.id), 1, 'an open connection counts as concurrency');
  assert.equal(s.gateway.inFlightOf(s.deployment.id, 'r1'), 1);
  byPath.send('hello');
  assert.equal(await nextMessage(byPath), 'echo:hello');
  const seen = replica.seen[0]!;
  assert.equal(seen.url, '/v1/websocket?lang=en', 'the query goes on');
  assert.equal(seen.headers['x-plinth-replica-token'], 'tok');
  assert.equal(seen.headers['x-request-id'], 'req-1');
  assert.equal(seen.headers['x-custom'], 'kept');
  assert.equal(seen.headers.authorization, undefined, "the caller's key stays at the gateway");
  assert.equal(s.measures.at(-1)?.status, 101, 'the handshake is measured');
  byPath.close(1000, 'bye');
  assert.equal(await closed(byPath), 1000);
  await until(
    'the slot freed',
    () => s.gateway.concurrency(s.deployment.id),
    (n) => n === 0,
  );

  const byHost = await opened(`ws://127.0.0.1:${s.port}/production/websocket`, {
    authorization: 'Api-Key good',
    host: `model-${s.deployment.model_id}.localhost:${s.port}`,
  });
  byHost.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal(await nextMessage(byHost), '\x01\x02\x03');
  byHost.terminate();
  await until(
    'the slot freed',
    () => s.gateway.concurrency(s.deployment.id),
    (n) => n === 0,
  );
});

test('a client that leaves while its key is checked holds no slot afterwards', async () => {
  let checking = 0;
  const s = await setup({
    authorize: async () => {
      checking++;
      await new Promise((r) => setTimeout(r, 200));
    },
  });
  const replica = await fakeReplica();
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r1', address: replica.address, token: 'tok' }]);
  for (let i = 0; i < 3; i++) {
    const socket = connect(s.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      'GET /models/echo/environments/production/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
        'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await until('the key being checked', () => checking > i);
    socket.destroy();
  }
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(s.gateway.concurrency(s.deployment.id), 0, 'no slot kept for a client that left');
  assert.equal(s.gateway.inFlightOf(s.deployment.id, 'r1'), 0);
  const ws = await opened(`${s.base}/models/echo/environments/production/websocket`);
  ws.send('still served');
  assert.equal(await nextMessage(ws), 'echo:still served');
});

test('a plain request to …/websocket is told to upgrade, never run as a predict', async () => {
  const s = await setup();
  const res = await fetch(`http://127.0.0.1:${s.port}/models/echo/environments/production/websocket`, {
    method: 'POST',
    headers: { authorization: 'Api-Key good' },
    body: '{}',
  });
  assert.equal(res.status, 426);
  assert.equal(res.headers.get('upgrade'), 'websocket');
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UPGRADE_REQUIRED');
});

test('a wrong or missing key is answered 401 in the platform shape, never upgraded', async () => {
  const s = await setup();
  const replica = await fakeReplica();
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r1', address: replica.address, token: 'tok' }]);
  for (const headers of [{}, { authorization: 'Api-Key bad' }] as Record<string, string>[]) {
    const r = await open(`${s.base}/models/echo/production/websocket`, headers);
    assert.ok('status' in r);
    assert.equal(r.status, 401);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
    assert.ok(r.headers['x-request-id']);
  }
  const unknown = await open(`${s.base}/models/nope/production/websocket`, {});
  assert.ok(
    'status' in unknown && unknown.status === 401,
    'an unknown model is no answer to a caller without a key',
  );
  assert.equal(replica.seen.length, 0);
});

test('an inactive deployment answers 404 DEPLOYMENT_INACTIVE; …/predict takes no WebSocket', async () => {
  const s = await setup({}, { status: 'INACTIVE' });
  const r = await open(`${s.base}/models/echo/production/websocket`);
  assert.ok('status' in r);
  assert.equal(r.status, 404);
  assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'DEPLOYMENT_INACTIVE');
  const predict = await open(`${s.base}/models/echo/production/predict`);
  assert.ok('status' in predict && predict.status === 400, 'a WebSocket to …/predict is refused');
});

test('a deployment at zero is woken; the connection parks until a replica is ready, or leaves the queue when its client goes', async () => {
  const s = await setup({}, { status: 'SCALED_TO_ZERO' });
  const replica = await fakeReplica();
  // A client that gives up while parked leaves the queue.
  const quitter = new WebSocket(`${s.base}/models/echo/production/websocket`, {
    headers: { authorization: 'Api-Key good' },
  });
  quitter.on('error', () => undefined);
  await until(
    'parked',
    () => s.gateway.concurrency(s.deployment.id),
    (n) => n === 1,
  );
  assert.deepEqual(s.wakes, [s.deployment.id], 'woken at once');
  quitter.terminate();
  await until(
    'withdrawn',
    () => s.gateway.concurrency(s.deployment.id),
    (n) => n === 0,
  );

  const waiting = open(`${s.base}/models/echo/production/websocket`);
  await until(
    'parked',
    () => s.gateway.concurrency(s.deployment.id),
    (n) => n === 1,
  );
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r1', address: replica.address, token: 'tok' }]);
  const r = await waiting;
  assert.ok('ws' in r);
  closers.push(() => r.ws.terminate());
  r.ws.send('awake');
  assert.equal(await nextMessage(r.ws), 'echo:awake');
  assert.ok(s.measures.at(-1)!.queueS > 0, 'the time parked is measured');
});

test('when the replica closes (a drain), the client sees its close, the slot is freed and drained() resolves', async () => {
  const s = await setup();
  const replica = await fakeReplica();
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r1', address: replica.address, token: 'tok' }]);
  const ws = await opened(`${s.base}/models/echo/production/websocket`);
  let drained = false;
  const draining = s.gateway.drained(s.deployment.id, 'r1', 60_000).then(() => (drained = true));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(drained, false, 'an open connection keeps its replica from being drained');
  const codes = closed(ws);
  for (const client of replica.wss.clients) client.close(1001, 'going away');
  assert.equal(await codes, 1001);
  await draining;
  assert.equal(s.gateway.concurrency(s.deployment.id), 0);

  // A replica that vanishes without a close frame frees the slot all the same.
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r2', address: replica.address, token: 'tok' }]);
  const second = await opened(`${s.base}/models/echo/production/websocket`);
  const gone = closed(second);
  for (const client of replica.wss.clients) client.terminate();
  assert.equal(await gone, 1006);
  await until(
    'the slot freed',
    () => s.gateway.concurrency(s.deployment.id),
    (n) => n === 0,
  );
});

test("a replica's refusal is relayed as it answered; a refused connection answers 503, never a bare 502", async () => {
  const s = await setup({}, { config: { docker_server: { predict_endpoint: '/p' } } });
  const replica = await fakeReplica(['/stream/ws']);
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r1', address: replica.address, token: 'tok' }]);
  // A custom server takes upgrades at its own paths, through …/sync/{path}.
  const ws = await opened(`${s.base}/models/echo/production/sync/stream/ws?x=1`);
  assert.equal(replica.seen.at(-1)!.url, '/stream/ws?x=1');
  ws.send('through');
  assert.equal(await nextMessage(ws), 'echo:through');
  ws.terminate();
  const missing = await open(`${s.base}/models/echo/production/sync/elsewhere`);
  assert.ok('status' in missing);
  assert.deepEqual([missing.status, missing.body], [404, 'no such']);
  const plain = await open(`${s.base}/models/echo/production/websocket`);
  assert.ok('status' in plain && plain.status === 404, '…/websocket is for model servers');
  assert.match((plain as { body: string }).body, /custom server/);
  await until(
    'slots freed',
    () => s.gateway.concurrency(s.deployment.id),
    (n) => n === 0,
  );

  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'dead', address: '127.0.0.1:1', token: 'tok' }]);
  const refused = await open(`${s.base}/models/echo/production/sync/stream/ws`);
  assert.ok('status' in refused);
  assert.equal(refused.status, 503);
  assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'REPLICA_UNAVAILABLE');
  assert.equal(s.gateway.concurrency(s.deployment.id), 0);
});

test('a connection that carries nothing for the idle bound is closed and its slot freed', async () => {
  const s = await setup({ websocketIdleTimeoutMs: 300 });
  const replica = await fakeReplica();
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r1', address: replica.address, token: 'tok' }]);
  const ws = await opened(`${s.base}/models/echo/production/websocket`);
  // Traffic keeps it open past the bound.
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 150));
    ws.send(String(i));
    assert.equal(await nextMessage(ws), `echo:${i}`);
  }
  assert.equal(await closed(ws), 1006, 'then silence closes it');
  assert.equal(s.gateway.concurrency(s.deployment.id), 0);
  assert.equal(
    idleTimeoutMs({ runtime: { transport: { kind: 'websocket', ping_interval_seconds: 5 } } }, 1),
    50_000,
  );
  assert.equal(idleTimeoutMs({ runtime: { transport: { kind: 'websocket' } } }, 7), 7);
  assert.equal(idleTimeoutMs({}, 7), 7);
});

test("an open connection outlives the server's request deadlines; other upgrades are served as plain requests", async () => {
  const s = await setup();
  const replica = await fakeReplica();
  s.gateway.setReadyReplicas(s.deployment.id, [{ id: 'r1', address: replica.address, token: 'tok' }]);
  const server = createServer({ connectionsCheckingInterval: 100 }, (req, res) => {
    req.resume();
    req.on('end', () => res.end(`plain ${req.method} ${req.url} upgrade=${req.headers.upgrade ?? 'none'}`));
  });
  server.headersTimeout = 300;
  server.requestTimeout = 300;
  listenForUpgrades(server, s.gateway);
  const port = await listening(server);
  const ws = await opened(`ws://127.0.0.1:${port}/models/echo/production/websocket`);
  await new Promise((r) => setTimeout(r, 800));
  ws.send('still');
  assert.equal(await nextMessage(ws), 'echo:still');
  ws.terminate();
  // An h2c upgrade (curl --http2 on http://) is answered as HTTP/1.1, body and all.
  const answer = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        port,
        path: '/v1/models',
        method: 'POST',
        headers: {
          connection: 'Upgrade, HTTP2-Settings',
          upgrade: 'h2c',
          'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA',
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end('{"a":1}');
  });
  assert.equal(answer, 'plain POST /v1/models upgrade=none');
});

// The gateway over a real SQLite store and real HTTP replicas (tiny servers that say which
// deployment they are): what it routes where.
import { deploymentInput } from '../../test/support/deployment-input.ts';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { until } from '../../test/support/wait.ts';
import type { Deployment } from '../domain/types.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import type { Store } from '../store/store.ts';
import { Gateway } from './gateway.ts';

const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

/** A replica that answers with its deployment's name. */
async function replica(name: string): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ name })));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The gateway on a real HTTP server of its own (closed after the tests). */
async function serve(gateway: Gateway): Promise<{ server: Server; url: string; port: number }> {
  const server = createServer((req, res) => void gateway.handle(req, res, gateway.match(req)!));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { server, url: `http://127.0.0.1:${port}`, port };
}

async function deployment(store: Store, modelId: string, name: string): Promise<Deployment> {
  const d = await store.createDeployment(deploymentInput(modelId, { name }));
  await store.transition(d.id, { from: 'BUILDING', to: 'DEPLOYING', reason: 'built' });
  const out = await store.transition(d.id, { from: 'DEPLOYING', to: 'ACTIVE', reason: 'ready' });
  assert.ok(out.moved);
  return out.deployment;
}

/** A model whose production ramps to its second deployment at `percent`. */
async function rampingModel(store: Store, gateway: Gateway, model: string, percent: number): Promise<void> {
  const m = await store.createModel(model);
  const old = await deployment(store, m.id, 'deployment-1');
  const candidate = await deployment(store, m.id, 'deployment-2');
  const env = (await store.getEnvironment(m.id, 'production'))!;
  await store.updateEnvironment(env.id, { current_deployment_id: old.id });
  await store.createPromotion({
    model_id: m.id,
    environment_id: env.id,
    environment_name: 'production',
    from_deployment_id: old.id,
    to_deployment_id: candidate.id,
    status: 'IN_PROGRESS',
    phase: 'RAMPING',
    traffic_percent: percent,
    cleanup_strategy: 'SCALE_TO_ZERO',
    ramp_up_duration_seconds: 600,
    replicas_needed: 1,
    requested_by: 'test',
    reason: null,
    started_at: new Date().toISOString(),
    ramp_started_at: new Date().toISOString(),
    finished_at: null,
    paused_at: null,
    rolling: null,
    actions: [],
  });
  gateway.setReadyReplicas(old.id, [{ id: `${model}-old`, address: await replica(`${model}/old`) }]);
  gateway.setReadyReplicas(candidate.id, [{ id: `${model}-new`, address: await replica(`${model}/new`) }]);
}

test('two models ramping production at once each send their own share to their candidate', async () => {
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store);
  const { url } = await serve(gateway);
  await rampingModel(store, gateway, 'alpha', 20);
  await rampingModel(store, gateway, 'beta', 20);
  const answers: string[] = [];
  // A 4:1 mix, interleaved: four requests for alpha, one for beta, a hundred times over.
  for (let i = 0; i < 100; i++) {
    for (const model of ['alpha', 'alpha', 'alpha', 'alpha', 'beta']) {
      const res = await fetch(`${url}/models/${model}/production/predict`, { method: 'POST', body: '{}' });
      answers.push(((await res.json()) as { name: string }).name);
    }
  }
  const share = (model: string): number =>
    answers.filter((a) => a === `${model}/new`).length /
    answers.filter((a) => a.startsWith(`${model}/`)).length;
  assert.equal(share('alpha'), 0.2, 'alpha: a fifth of its requests to its candidate');
  assert.equal(share('beta'), 0.2, 'beta: a fifth of its requests to its candidate');
  await gateway.close();
  await store.close();
});

test('what the gateway keeps for a deployment goes with it', async () => {
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store);
  const { url } = await serve(gateway);
  await rampingModel(store, gateway, 'gamma', 50);
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${url}/models/gamma/production/predict`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 200);
  }
  const { failures: _none, ...kept } = gateway.bookkeeping();
  assert.ok(
    Object.values(kept).every((n) => n > 0),
    JSON.stringify(kept),
  );
  const model = (await store.getModel('gamma'))!;
  for (const d of await store.listDeployments({ model_id: model.id })) gateway.forget(d.id);
  gateway.forgetModel(model.id);
  assert.deepEqual(gateway.bookkeeping(), {
    activators: 0,
    ready: 0,
    failures: 0,
    capacities: 0,
    splits: 0,
    routes: 0,
  });
  await gateway.close();
  await store.close();
});

test('drained(): at once for a replica with nothing in flight; else when its requests end, or at the timeout', async () => {
  const clock = new FakeClock();
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store, { clock });
  let done = false;
  await gateway.drained('d-unknown', 'r-1', 30_000).then(() => (done = true));
  assert.equal(done, true, 'a deployment it never saw: nothing to wait for');
  const { url: gatewayUrl } = await serve(gateway);
  // A replica that never answers: the request stays in flight.
  const hung = createServer(() => {});
  servers.push(hung);
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  const m = await store.createModel('slow');
  const d = await deployment(store, m.id, 'deployment-1');
  gateway.setReadyReplicas(d.id, [
    { id: 'r-hung', address: `127.0.0.1:${(hung.address() as AddressInfo).port}` },
  ]);
  const url = `${gatewayUrl}/models/slow/deployment/${d.id}/predict`;
  const controller = new AbortController();
  void fetch(url, { method: 'POST', body: '{}', signal: controller.signal }).catch(() => null);
  await until(
    'the request in flight',
    () => gateway.inFlightOf(d.id, 'r-hung'),
    (n) => n === 1,
    5000,
    10,
  );
  let drained = false;
  void gateway.drained(d.id, 'r-hung', 30_000).then(() => (drained = true));
  await clock.advance(29_000);
  assert.equal(drained, false, 'its request is still in flight');
  await clock.advance(1000);
  assert.equal(drained, true, 'the drain time is over');
  controller.abort();
  await gateway.close();
  await store.close();
});

test('a client that stops reading is cut off after the stall timeout and its replica freed; one that reads slowly gets everything', async () => {
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store, { stallTimeoutMs: 300 });
  const { server, port } = await serve(gateway);
  // More than loopback's socket buffers hold, so that a client that reads nothing is felt.
  const big = Buffer.alloc(48 * 1024 * 1024, 'x');
  const cut: string[] = [];
  const upstream = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': big.length });
    res.on('close', () => {
      if (!res.writableFinished) cut.push(String(req.headers['x-request-id']));
    });
    // Piece by piece, as a model streams: backpressure reaches here.
    let at = 0;
    const more = (): void => {
      while (at < big.length) {
        const ok = res.write(big.subarray(at, at + 64 * 1024));
        at += 64 * 1024;
        if (!ok) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  servers.push(upstream);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const m = await store.createModel('big');
  const d = await deployment(store, m.id, 'deployment-1');
  const env = (await store.getEnvironment(m.id, 'production'))!;
  await store.updateEnvironment(env.id, { current_deployment_id: d.id });
  gateway.setReadyReplicas(d.id, [
    { id: 'r1', address: `127.0.0.1:${(upstream.address() as AddressInfo).port}` },
  ]);
  const { connect } = await import('node:net');
  const ask = (requestId: string) => {
    const socket = connect(port, '127.0.0.1');
    socket.write(
      `POST /models/big/production/predict HTTP/1.1\r\nhost: x\r\nx-request-id: ${requestId}\r\ncontent-length: 2\r\n\r\n{}`,
    );
    return socket;
  };
  // Reads nothing at all.
  const stalled = ask('stalled');
  stalled.pause();
  let stalledGot = 0;
  stalled.on('data', (chunk: Buffer) => (stalledGot += chunk.length));
  const stalledClosed = new Promise<void>((r) => stalled.once('close', () => r()));
  // Reads, but slowly.
  const slow = ask('slow');
  let received = 0;
  slow.on('data', (chunk: Buffer) => {
    received += chunk.length;
    slow.pause();
    setTimeout(() => slow.resume(), 2);
  });
  const slowEnded = new Promise<void>((r) => slow.once('end', () => r()));
  try {
    await until(
      'the stalled client is cut off and its replica told',
      async () => cut,
      (c) => c.includes('stalled'),
      15_000,
    );
    // What was already on its way arrives once it reads again, and then the connection's end.
    stalled.resume();
    await stalledClosed;
    assert.ok(stalledGot < big.length, `the stalled client got a cut answer (${stalledGot} bytes)`);
    await until(
      'the slow reader has the whole body',
      async () => received,
      (n) => n > big.length,
      60_000,
    );
    assert.ok(!cut.includes('slow'), 'the slow reader was never cut');
    await until(
      'no request holds a slot',
      async () => gateway.inFlightOf(d.id, 'r1'),
      (n) => n === 0,
      10_000,
    );
  } finally {
    // Whatever failed, nothing is left open to hold the test process.
    stalled.destroy();
    slow.destroy();
    upstream.closeAllConnections();
    server.closeAllConnections();
    await gateway.close();
  }
  void slowEnded;
});

test('a replica that closes each kept-alive connection as the next request arrives answers every request, and is never set aside', async () => {
  // As a server whose keep-alive timeout is shorter than the gateway's crosses each request.
  let accepted = 0;
  let requests = 0;
  const closing = createNetServer((socket) => {
    accepted++;
    let served = 0;
    socket.on('data', () => {
      requests++;
      if (served++ > 0) return void socket.end();
      socket.write(
        'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}',
      );
    });
  });
  await new Promise<void>((r) => closing.listen(0, '127.0.0.1', r));
  after(() => closing.close());
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store);
  const { url: gatewayUrl } = await serve(gateway);
  const m = await store.createModel('short-keepalive');
  const d = await deployment(store, m.id, 'deployment-1');
  gateway.setReadyReplicas(d.id, [
    { id: 'r-1', address: `127.0.0.1:${(closing.address() as AddressInfo).port}` },
  ]);
  const url = `${gatewayUrl}/models/short-keepalive/deployment/${d.id}/predict`;
  for (let i = 0; i < 5; i++) {
    const res = await fetch(url, { method: 'POST', body: '{}' });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { ok: true });
    // The connection goes back to the pool once the I/O that came with its answer is seen.
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(
    { accepted, requests },
    { accepted: 5, requests: 9 },
    'each request after the first went out on the kept-alive connection, then again on a new one',
  );
  assert.equal(gateway.inFlightOf(d.id, 'r-1'), 0);
  await gateway.close();
  await store.close();
});

test('a replica that sends bytes past its answer: the client has the whole answer and keeps its connection', async () => {
  // Each answer whole, then bytes nobody framed: after a body, after an empty one, after a 204,
  // after a chunked body.
  const answers = [
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nEXTRA',
    'HTTP/1.1 204 No Content\r\n\r\nEXTRA',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nEXTRA',
  ];
  let asked = 0;
  const sloppy = createNetServer((socket) => {
    socket.on('data', () => socket.write(answers[asked++ % answers.length]!));
  });
  await new Promise<void>((r) => sloppy.listen(0, '127.0.0.1', r));
  after(() => sloppy.close());
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store);
  const { port } = await serve(gateway);
  const m = await store.createModel('sloppy');
  const d = await deployment(store, m.id, 'deployment-1');
  gateway.setReadyReplicas(d.id, [
    { id: 'r-1', address: `127.0.0.1:${(sloppy.address() as AddressInfo).port}` },
  ]);
  // The requests on one kept-alive client connection, each sent once the one before is answered.
  const client = connect(port, '127.0.0.1');
  let text = '';
  client.on('data', (c: Buffer) => (text += c.toString('latin1')));
  const request = `POST /models/sloppy/deployment/${d.id}/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}`;
  const heads = (): number => text.split('HTTP/1.1 ').length - 1;
  for (let i = 1; i <= answers.length; i++) {
    client.write(request);
    await until(`answer ${i}, on the same connection`, heads, (n) => n === i, 5000, 10);
  }
  // (The last answer's end, after its head.)
  await until('the chunked answer whole', () => text.endsWith('0\r\n\r\n'), Boolean, 5000, 10);
  assert.equal(client.destroyed, false);
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((x) => x[1]);
  assert.deepEqual(statuses, ['200', '200', '204', '200']);
  assert.equal(text.split('hello').length - 1, 2, 'both bodies arrived');
  assert.doesNotMatch(text, /EXTRA/, 'what came past an answer is never the client’s');
  client.destroy();
  await gateway.close();
  await store.close();
});

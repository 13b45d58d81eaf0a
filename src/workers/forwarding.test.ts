// A gateway worker passes what is not inference to its primary's door, and the primary answers it
// as its own server would: real servers on loopback, a client on a second loopback address so that
// the address the primary sees is told apart from the worker's.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { clientAddress } from '../domain/client-address.ts';
import { forwardToPrimary } from './forward-to-primary.ts';
import type { PrimaryForwarder } from './forward-to-primary.ts';
import { CLIENT_HEADER, openPrimaryDoor, TOKEN_HEADER } from './primary-door.ts';
import type { PrimaryDoor } from './primary-door.ts';

const SETTINGS = { port: 0, host: '127.0.0.1', headersTimeoutS: 30, requestTimeoutS: 300, maxConnections: 0 };

let primary: Server;
let door: PrimaryDoor;
let forwarder: PrimaryForwarder;
let worker: Server;
let workerPort: number;
let streamClosed: Promise<unknown>;

before(async () => {
  let closedStream: () => void = () => {};
  streamClosed = new Promise<void>((r) => (closedStream = r));
  // The primary's own server (never listening here: only the door reaches it).
  primary = createServer((req, res) => {
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      const timer = setInterval(() => res.write(': keep-alive\n\n'), 50);
      req.on('close', () => {
        clearInterval(timer);
        closedStream();
      });
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.writeHead(201, 'Made', [
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
        'Content-Type',
        'application/json',
      ]);
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          host: req.headers.host,
          custom: req.headers['x-custom'],
          secret: req.headers[TOKEN_HEADER] ?? req.headers[CLIENT_HEADER] ?? null,
          client: clientAddress(req),
          body,
        }),
      );
    });
  });
  door = await openPrimaryDoor(primary, SETTINGS, 1);
  forwarder = forwardToPrimary(door.address);
  worker = createServer((req, res) => forwarder.forward(req, res));
  await new Promise<void>((r) => worker.listen(0, '127.0.0.1', r));
  workerPort = (worker.address() as AddressInfo).port;
});

after(async () => {
  forwarder.close();
  worker.closeAllConnections();
  await new Promise((r) => worker.close(r));
  await door.close();
});

/** A request to the worker from 127.0.0.2; `chunks` are sent one by one (a chunked body). */
async function call(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  chunks: string[] = [],
): Promise<{ res: IncomingMessage; body: string }> {
  const req = request({
    host: '127.0.0.1',
    port: workerPort,
    method,
    path,
    headers,
    localAddress: '127.0.0.2',
  });
  for (const c of chunks) req.write(c);
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let body = '';
  for await (const c of res) body += (c as Buffer).toString();
  return { res, body };
}

test('method, path, headers, status, repeated headers and a chunked body pass through; the client is the one the worker saw', async () => {
  const { res, body } = await call(
    'POST',
    '/v1/secrets?x=1',
    { host: 'plinth.example:4780', 'x-custom': 'kept', [CLIENT_HEADER]: '10.9.9.9' },
    ['{"name": ', '"s"}'],
  );
  assert.equal(res.statusCode, 201);
  assert.equal(res.statusMessage, 'Made');
  assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
  assert.deepEqual(JSON.parse(body), {
    method: 'POST',
    url: '/v1/secrets?x=1',
    host: 'plinth.example:4780',
    custom: 'kept',
    secret: null,
    client: '127.0.0.2',
    body: '{"name": "s"}',
  });
  assert.ok(forwarder.forwarded >= 1);
});

test('a streamed answer (server-sent events) arrives as it is written, and a client that leaves ends it at the primary', async () => {
  const req = request({ host: '127.0.0.1', port: workerPort, path: '/events' });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  assert.equal(res.headers['content-type'], 'text/event-stream');
  const [first] = (await once(res, 'data')) as [Buffer];
  assert.match(first.toString(), /^data: first/);
  req.destroy();
  await streamClosed;
});

test('the door answers only requests that carry its token', async () => {
  for (const token of [undefined, 'wrong']) {
    const req = request({
      host: '127.0.0.1',
      port: door.address.port,
      path: '/v1/models',
      headers: token ? { [TOKEN_HEADER]: token } : {},
    });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    res.resume();
    assert.equal(res.statusCode, 403);
  }
});

test('a primary that cannot be reached is a 503 PRIMARY_UNAVAILABLE, not a hung request', async () => {
  const gone = forwardToPrimary({ port: 1, token: 'x' });
  const lone = createServer((req, res) => gone.forward(req, res));
  await new Promise<void>((r) => lone.listen(0, '127.0.0.1', r));
  const res = await fetch(`http://127.0.0.1:${(lone.address() as AddressInfo).port}/healthz`);
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'PRIMARY_UNAVAILABLE');
  gone.close();
  lone.closeAllConnections();
  await new Promise((r) => lone.close(r));
});

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { listen, serveHanded } from './http-listen.ts';

const settings = { port: 0, host: '127.0.0.1', headersTimeoutS: 0.3, requestTimeoutS: 5, maxConnections: 0 };

/**
 * A silent connection and one that sends a request, to a server started by `start` (which
 * answers its port): the silent one must close after the headers timeout, the other stay open,
 * and the request's socket stay with node's native parser — a 'data' listener on it would put
 * every request through JS stream events (it did: about a seventh of the gateway's CPU).
 */
async function checkDeadlines(t: TestContext, start: (server: Server) => Promise<number>): Promise<void> {
  let parserReadsNatively: boolean | undefined;
  const server = createServer((req: IncomingMessage, res) => {
    parserReadsNatively = (req.socket as Socket & { parser?: { _consumed?: boolean } }).parser?._consumed;
    res.end('ok');
  });
  const port = await start(server);
  t.after(() => server.close());
  const silent = connect(port, '127.0.0.1');
  const connectedAt = Date.now();
  const silentClosed = new Promise<number>((resolve) =>
    silent.once('close', () => resolve(Date.now() - connectedAt)),
  );
  const talking = connect(port, '127.0.0.1');
  talking.on('data', () => undefined);
  talking.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const closedAfterMs = await silentClosed;
  assert.ok(closedAfterMs >= 250, `closed after ${closedAfterMs} ms, before its headers timeout`);
  assert.equal(parserReadsNatively, true, "a request's socket stays with node's native parser");
  // Well past the headers timeout, the connection that sent a request is kept alive.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(talking.destroyed, false);
  talking.destroy();
}

test('a listening server: a silent connection closes after the headers timeout; one that sent a request stays', (t) =>
  checkDeadlines(t, async (server) => Number(new URL(await listen(server, settings)).port)));

test('a server handed its connections (a gateway worker): the same', (t) =>
  checkDeadlines(t, async (server) => {
    const handed = createNetServer();
    t.after(() => handed.close());
    await new Promise<void>((r) => handed.listen(0, '127.0.0.1', r));
    serveHanded(server, handed, settings);
    return (handed.address() as AddressInfo).port;
  }));

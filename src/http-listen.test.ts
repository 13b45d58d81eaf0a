import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { listen } from './http-listen.ts';

const settings = { port: 0, host: '127.0.0.1', headersTimeoutS: 0.3, requestTimeoutS: 5, maxConnections: 0 };

test('a connection that sends nothing is closed after the headers timeout; one that sent a request stays', async (t) => {
  let parserReadsNatively: boolean | undefined;
  const server = createServer((req: IncomingMessage, res) => {
    // node:http's parser reads the socket natively unless a 'data' listener took it over: the
    // deadline must not cost every request its fast path (it did: a third of the gateway's CPU).
    parserReadsNatively = (req.socket as Socket & { parser?: { _consumed?: boolean } }).parser?._consumed;
    res.end('ok');
  });
  const url = await listen(server, settings);
  t.after(() => server.close());
  const port = Number(new URL(url).port);
  const closedAfter = (socket: Socket): Promise<number> => {
    const started = Date.now();
    return new Promise((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  };
  const silent = connect(port, '127.0.0.1');
  const talking = connect(port, '127.0.0.1');
  talking.on('data', () => undefined);
  talking.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const silentClosed = await closedAfter(silent);
  assert.ok(silentClosed >= 250, `closed after ${silentClosed} ms, before its headers timeout`);
  assert.equal(parserReadsNatively, true, "a request's socket stays with node's native parser");
  // Well past the headers timeout, the connection that sent a request is kept alive.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(talking.destroyed, false);
  talking.destroy();
});

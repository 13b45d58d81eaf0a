import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../../test/support/wait.ts';
import { ReplicaConnections } from './replica-connections.ts';
import type { Exchange, ExchangeRequest } from './replica-connections.ts';

/** A connection goes back to the pool once the I/O that came with its answer is seen. */
const settled = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Answer {
  status: number;
  headers: string[];
  body: string;
}

/** A real HTTP server; counts the connections it accepted. */
async function replica(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const server: Server = createServer(handle);
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    get connections() {
      return connections;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

async function send(
  pool: ReplicaConnections,
  request: Partial<ExchangeRequest>,
  onData: (chunk: Buffer) => boolean = () => true,
): Promise<Answer> {
  const answer = await exchange(pool, request, onData);
  await settled();
  return answer;
}

function exchange(
  pool: ReplicaConnections,
  request: Partial<ExchangeRequest>,
  onData: (chunk: Buffer) => boolean = () => true,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const answer: Answer = { status: 0, headers: [], body: '' };
    pool.exchange(
      { method: 'POST', path: '/p', headers: [], body: null, ...request },
      {
        onHead: (status, headers) => Object.assign(answer, { status, headers }),
        onData: (chunk) => {
          answer.body += chunk.toString();
          return onData(chunk);
        },
        onComplete: () => resolve(answer),
        onError: reject,
      },
    );
  });
}

const echo = (req: IncomingMessage, res: ServerResponse): void => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'x-method': req.method,
      'x-framing': req.headers['transfer-encoding'] ?? `length ${req.headers['content-length'] ?? 'none'}`,
      'x-host': req.headers.host,
    });
    res.end(Buffer.concat(chunks));
  });
};

test('requests take turns on one kept-alive connection, and every body arrives framed right', async () => {
  const r = await replica(echo);
  const pool = new ReplicaConnections(r.address);
  try {
    const one = await send(pool, { body: Buffer.from('hello'), headers: ['x-a', 'b'] });
    assert.equal(one.status, 200);
    assert.equal(one.body, 'hello');
    assert.ok(one.headers.includes('length 5'));
    assert.ok(one.headers.includes(r.address), 'Host names the replica');
    const get = await send(pool, { method: 'GET', body: null });
    assert.ok(get.headers.includes('length none'), 'a GET without a body says nothing of one');
    const chunked = new PassThrough();
    const streaming = send(pool, { body: chunked });
    chunked.write('a'.repeat(70_000));
    chunked.end('end');
    const streamed = await streaming;
    assert.equal(streamed.body, `${'a'.repeat(70_000)}end`);
    assert.ok(streamed.headers.includes('chunked'));
    const known = new PassThrough();
    const knowing = send(pool, { body: known, bodyLength: 6 });
    known.end('sixsix');
    const sized = await knowing;
    assert.equal(sized.body, 'sixsix');
    assert.ok(sized.headers.includes('length 6'));
    assert.equal(r.connections, 1, 'one connection carried them all');
    await Promise.all([send(pool, {}), send(pool, {})]);
    assert.equal(r.connections, 2, 'two at once take two connections');
    assert.equal(pool.idleCount, 2);
  } finally {
    pool.close();
    await r.close();
  }
});

test('a head and a body that arrive in many reads, on two connections at once, arrive whole', async () => {
  // Every connection reads into one shared buffer: what outlives a read (a head not yet ended,
  // body pieces a handler keeps) must be copied, or the next read writes over it.
  const server = createNetServer((socket) => {
    socket.once('data', async () => {
      const tag = socket.remotePort!.toString(36);
      const pieces = [
        `HTTP/1.1 200 OK\r\nX-Tag: ${tag}-`,
        `${'h'.repeat(40)}\r\nContent-Length: 60\r\n\r\n`,
        `${tag}-${'a'.repeat(20)}`,
        'b'.repeat(20),
      ];
      for (const piece of pieces) {
        socket.write(piece);
        await sleep(15);
      }
      socket.write('c'.repeat(60 - 20 - 20 - tag.length - 1));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new ReplicaConnections(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const kept = (): { chunks: Buffer[]; answer: Promise<Answer> } => {
      const chunks: Buffer[] = [];
      // The handler keeps each piece as handed over and reads them only at the end.
      const answer = exchange(pool, {}, (chunk) => chunks.push(chunk) > 0);
      return { chunks, answer };
    };
    const [one, two] = [kept(), kept()];
    for (const { chunks, answer } of [one, two]) {
      const { headers } = await answer;
      const tag = headers[headers.indexOf('X-Tag') + 1]!.split('-')[0]!;
      assert.equal(headers[headers.indexOf('X-Tag') + 1], `${tag}-${'h'.repeat(40)}`, 'the head, whole');
      const body = Buffer.concat(chunks).toString();
      assert.equal(body, `${tag}-${'a'.repeat(20)}${'b'.repeat(20)}${'c'.repeat(60 - 41 - tag.length)}`);
      assert.ok(chunks.length >= 2, 'the body came in several reads');
    }
  } finally {
    pool.close();
    server.close();
  }
});

test('a refused connection is an error with its code; a response cut short is an error, never a success', async () => {
  const r = await replica((req, res) => {
    res.writeHead(200, { 'content-length': 100 });
    res.write('only part');
    setTimeout(() => res.destroy(), 20);
  });
  const address = r.address;
  try {
    const cut = await send(new ReplicaConnections(address), {}).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    assert.equal(cut?.code, 'PLINTH_REPLICA_CUT');
    assert.match(cut!.message, /in the middle of its response/);
  } finally {
    await r.close();
  }
  const refused = await send(new ReplicaConnections(address), {}).then(
    () => null,
    (e: Error & { code?: string }) => e,
  );
  assert.equal(refused?.code, 'ECONNREFUSED');
});

/**
 * GET / read by a reader that asks for no more after each piece and resumes `pauseMs(n)` later
 * (n counts the pieces from 0); a piece that comes while it waits fails it.
 */
function readPausing(
  pool: ReplicaConnections,
  pauseMs: (n: number) => number,
): Promise<{ body: string; pieces: number }> {
  return new Promise((resolve, reject) => {
    let body = '';
    let pieces = 0;
    let waiting = false;
    const exchange = pool.exchange(
      { method: 'GET', path: '/', headers: [], body: null },
      {
        onHead: () => {},
        onData: (chunk) => {
          if (waiting) reject(new Error('a piece came while the reader had asked for none'));
          body += chunk.toString();
          waiting = true;
          setTimeout(() => {
            waiting = false;
            exchange.resume();
          }, pauseMs(pieces++));
          return false;
        },
        onComplete: () => resolve({ body, pieces }),
        onError: reject,
      },
    );
  });
}

test('a slow reader pauses the replica, and resuming gets the rest', async () => {
  const big = 'x'.repeat(1024 * 1024);
  const r = await replica((req, res) => {
    req.resume();
    res.end(big);
  });
  const pool = new ReplicaConnections(r.address);
  try {
    const { body, pieces } = await readPausing(pool, () => 20);
    assert.equal(body, big);
    assert.ok(pieces > 1, 'it was paused between pieces');
    await settled();
    assert.equal(pool.idleCount, 1, 'and the connection is kept');
    assert.equal((await send(pool, { method: 'GET' })).body, big, 'and reused, no longer paused');
    assert.equal(r.connections, 1);
  } finally {
    pool.close();
    await r.close();
  }
});

test('the reply timeout counts the replica’s silence, not the time its answer waits for a slow reader', async () => {
  const big = 'x'.repeat(1024 * 1024);
  const r = await replica((req, res) => {
    req.resume();
    // Silent until the timeout has passed, for the request that asks for it.
    if (req.url === '/silent') return void setTimeout(() => res.end('late'), 600);
    res.end(big);
  });
  const pool = new ReplicaConnections(r.address, undefined, undefined, 200);
  try {
    // The first pause outlasts the reply timeout twice over.
    const { body } = await readPausing(pool, (n) => (n === 0 ? 500 : 1));
    assert.equal(body, big, 'a reader who paused longer than the reply timeout got everything');
    // The same connection, kept after an answer that ended while it was paused, has its timeout back.
    await settled();
    assert.equal(pool.idleCount, 1);
    await assert.rejects(send(pool, { method: 'GET', path: '/silent' }), { code: 'PLINTH_REPLY_TIMEOUT' });
    assert.equal(r.connections, 1, 'the silent answer was waited for on the kept connection');
  } finally {
    pool.close();
    await r.close();
  }
});

test('an aborted exchange ends once with its error and its connection is never reused', async () => {
  const r = await replica((req, res) => {
    req.resume();
    res.writeHead(200);
    res.write('first');
  });
  const pool = new ReplicaConnections(r.address);
  try {
    const errors: Error[] = [];
    let completed = false;
    await new Promise<void>((resolve) => {
      const exchange = pool.exchange(
        { method: 'GET', path: '/', headers: [], body: null },
        {
          onHead: () => {},
          onData: () => {
            exchange.abort(new Error('client went away'));
            resolve();
            return true;
          },
          onComplete: () => (completed = true),
          onError: (e) => errors.push(e),
        },
      );
    });
    await sleep(50);
    await settled();
    assert.deepEqual(
      errors.map((e) => e.message),
      ['client went away'],
    );
    assert.equal(completed, false);
    assert.equal(pool.idleCount, 0);
  } finally {
    pool.close();
    await r.close();
  }
});

test('an answer before the whole request body went out, and idle connections the replica dropped, are not reused', async () => {
  const r = await replica((req, res) => {
    if (req.url === '/early') {
      res.writeHead(413, { 'content-length': 0 });
      res.end();
      return;
    }
    echo(req, res);
  });
  r.server.keepAliveTimeout = 50;
  const pool = new ReplicaConnections(r.address, 60_000);
  try {
    const body = new PassThrough();
    const early = send(pool, { path: '/early', body });
    body.write('part');
    assert.equal((await early).status, 413);
    assert.equal(pool.idleCount, 0, 'the request was cut: its connection closes');
    await send(pool, { body: Buffer.from('a') });
    assert.equal(pool.idleCount, 1);
    // node:http closes an idle connection a second or so after its keepAliveTimeout.
    for (let i = 0; i < 100 && pool.idleCount > 0; i++) await sleep(50);
    assert.equal(pool.idleCount, 0, 'the replica closed it while idle: dropped');
    assert.equal(
      (await send(pool, { body: Buffer.from('b') })).body,
      'b',
      'a new one carries the next request',
    );
  } finally {
    pool.close();
    await r.close();
  }
  const stale = await replica(echo);
  const short = new ReplicaConnections(stale.address, 50);
  try {
    await send(short, {});
    await sleep(120);
    await send(short, {});
    assert.equal(stale.connections, 2, 'idle past idleMs: a new connection, not the old one');
    short.sweep(Date.now() + 1000);
    assert.equal(short.idleCount, 0, 'and the sweep closes what stays idle');
  } finally {
    short.close();
    await stale.close();
  }
});

test('a path a request line cannot carry is refused before anything is sent', () => {
  const pool = new ReplicaConnections('127.0.0.1:9');
  assert.throws(
    () =>
      pool.exchange(
        { method: 'GET', path: '/a b', headers: [], body: null },
        { onHead() {}, onData: () => true, onComplete() {}, onError() {} },
      ),
    /request path/,
  );
});

test('a replica that closes right after answering, without saying so, never gets a request written onto that connection', async () => {
  // A raw replica: answers, then ends the connection (as Plinth's Python server does while draining).
  let accepted = 0;
  const server = createNetServer((socket) => {
    accepted++;
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      socket.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new ReplicaConnections(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    // The next request leaves the moment the first completes (a parked request taking the slot).
    const first = await new Promise<Promise<Answer>>((resolve, reject) => {
      pool.exchange(
        { method: 'GET', path: '/', headers: [], body: null },
        {
          onHead() {},
          onData: () => true,
          onComplete: () => resolve(exchange(pool, { method: 'GET' })),
          onError: reject,
        },
      );
    });
    assert.equal((await first).body, 'ok', 'sent on a new connection, not the closing one');
    await sleep(50);
    assert.equal(pool.idleCount, 0, 'the ended connections were not kept');
    assert.equal((await send(pool, { method: 'GET' })).body, 'ok');
    assert.equal(accepted, 3);
  } finally {
    pool.close();
    await new Promise((r) => server.close(r));
  }
});

/**
 * A raw replica: answers a connection's first request and keeps it alive; what it does with a
 * later request on that connection (close it, reset it, or answer part) is `later`'s to say. Every
 * request is counted.
 */
async function closingReplica(later: (socket: Socket) => void, resendWindowMs?: number) {
  const seen = { connections: 0, requests: 0 };
  let hangNew = false;
  const server = createNetServer((socket) => {
    seen.connections++;
    const hangs = hangNew;
    let served = 0;
    socket.on('data', () => {
      seen.requests++;
      if (served++ > 0) later(socket);
      else if (!hangs) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    seen,
    pool: new ReplicaConnections(
      `127.0.0.1:${(server.address() as AddressInfo).port}`,
      undefined,
      resendWindowMs,
    ),
    /** New connections from now on are accepted but never answered. */
    hangNewConnections: () => (hangNew = true),
    /** New connections are refused from now on; open ones stay. */
    stopListening: () => server.close(),
    close: () => new Promise((r) => (server.listening ? server.close(r) : r(undefined))),
  };
}

/** closingReplica's replica for `use`, its pool and server closed after, however `use` ends. */
async function withClosingReplica(
  later: (socket: Socket) => void,
  use: (r: Awaited<ReturnType<typeof closingReplica>>) => Promise<void>,
  resendWindowMs?: number,
): Promise<void> {
  const r = await closingReplica(later, resendWindowMs);
  try {
    await use(r);
  } finally {
    r.pool.close();
    await r.close();
  }
}

test('a kept-alive connection the replica closes or resets as a request goes out: the request goes again, once, on a new connection', async () => {
  for (const [how, later] of [
    ['closed', (s) => s.end()],
    ['reset', (s) => s.resetAndDestroy()],
  ] as const satisfies readonly (readonly [string, (s: Socket) => void])[]) {
    await withClosingReplica(later, async (r) => {
      assert.equal((await send(r.pool, { body: Buffer.from('one') })).body, 'ok');
      assert.equal(r.pool.idleCount, 1);
      const again = await send(r.pool, { body: Buffer.from('two') });
      assert.equal(again.status, 200, how);
      assert.equal(again.body, 'ok', `${how}: answered once, on the new connection`);
      assert.deepEqual(r.seen, { connections: 2, requests: 3 }, how);
    });
  }
});

test('a request is not sent again when the connection was new, the body streamed, an answer began, the close came late, or it was sent again already; one sent again fails as the close did if refused, with its abort if aborted', async () => {
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'answered',
      (e: Error & { code?: string }) => e.code,
    );
  // A replica that answers nothing at all: a new connection closed under the request fails it.
  let requests = 0;
  const mute = createNetServer((socket) =>
    socket.on('data', () => {
      requests++;
      socket.end();
    }),
  );
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  const fresh = new ReplicaConnections(`127.0.0.1:${(mute.address() as AddressInfo).port}`);
  try {
    assert.equal(await code(send(fresh, { body: Buffer.from('x') })), 'PLINTH_REPLICA_CLOSED');
    assert.equal(requests, 1, 'a new connection: once');
  } finally {
    fresh.close();
    await new Promise((r) => mute.close(r));
  }

  await withClosingReplica(
    (s) => s.end(),
    async (streamed) => {
      await send(streamed.pool, {});
      const body = new PassThrough();
      const sent = code(send(streamed.pool, { body }));
      body.end('streamed');
      assert.equal(await sent, 'PLINTH_REPLICA_CLOSED');
      assert.equal(streamed.seen.connections, 1, 'a streamed body is gone: not sent again');
    },
  );

  // Part of a head, then the close: the same close as an idle one's, but the replica had the request.
  await withClosingReplica(
    (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-');
      s.end();
    },
    async (partly) => {
      await send(partly.pool, {});
      assert.equal(await code(send(partly.pool, {})), 'PLINTH_REPLICA_CLOSED');
      assert.equal(partly.seen.connections, 1, 'an answer began: the replica had the request');
    },
  );

  // Closed long after the write (a worker that died of the request): not the idle close's race.
  await withClosingReplica(
    (s) => setTimeout(() => s.end(), 200),
    async (late) => {
      await send(late.pool, {});
      assert.equal(await code(send(late.pool, {})), 'PLINTH_REPLICA_CLOSED');
      assert.equal(late.seen.connections, 1, 'closed after the resend window: not sent again');
    },
    50,
  );

  // Closes the kept-alive connection and is gone: the new connection is refused, and the request
  // fails as it did first (the replica may have died of it), not as one the replica never saw.
  await withClosingReplica(
    (s) => s.end(),
    async (gone) => {
      await send(gone.pool, {});
      gone.stopListening();
      assert.equal(await code(send(gone.pool, {})), 'PLINTH_REPLICA_CLOSED');
    },
  );

  // Aborted while the request waits on the new connection: the handler hears the abort, not the close.
  await withClosingReplica(
    (s) => s.end(),
    async (waiting) => {
      await send(waiting.pool, {});
      waiting.hangNewConnections();
      let exchange: Exchange | undefined;
      const failed = new Promise<string>((resolve) => {
        exchange = waiting.pool.exchange(
          { method: 'POST', path: '/p', headers: [], body: Buffer.from('x') },
          {
            onHead() {},
            onData: () => true,
            onComplete: () => resolve('answered'),
            onError: (e) => resolve(e.message),
          },
        );
      });
      await until(
        'the request sent again',
        () => waiting.seen.requests,
        (n) => n === 3,
        5000,
        5,
      );
      exchange!.abort(new Error('client went away'));
      assert.equal(await failed, 'client went away');
    },
  );

  // Answers only its very first request; every later one, on any connection, is closed unanswered.
  let answered = false;
  let accepted = 0;
  const once = createNetServer((socket) => {
    accepted++;
    socket.on('data', () => {
      if (answered) return void socket.end();
      answered = true;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((r) => once.listen(0, '127.0.0.1', r));
  const pool = new ReplicaConnections(`127.0.0.1:${(once.address() as AddressInfo).port}`);
  try {
    await send(pool, {});
    assert.equal(await code(send(pool, {})), 'PLINTH_REPLICA_CLOSED');
    assert.equal(accepted, 2, 'sent again once, on one new connection, then failed');
  } finally {
    pool.close();
    await new Promise((r) => once.close(r));
  }
});

test('a pool closed while its request waits sends nothing again when the kept-alive connection then closes', async () => {
  // The replica left the ready list (or the gateway stops): no new connection to that address.
  const r = await closingReplica((s) => setTimeout(() => s.end(), 20));
  try {
    await send(r.pool, {});
    const second = send(r.pool, {}).then(
      () => 'answered',
      (e: Error & { code?: string }) => e.code,
    );
    r.pool.close();
    assert.equal(await second, 'PLINTH_REPLICA_CLOSED');
    assert.equal(r.seen.connections, 1);
  } finally {
    await r.close();
  }
});

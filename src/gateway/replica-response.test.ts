import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseError, ResponseReader } from './replica-response.ts';

interface Read {
  status: number | null;
  headers: string[];
  body: string;
  ends: boolean[];
  /** Body pieces said to be the last, and whether a piece came after one. */
  lasts: number;
  bodyAfterLast: boolean;
}

/** Feeds `wire` to a reader in pieces cut at `cuts`, then (when `eof`) ends the connection. */
function read(wire: string, cuts: number[] = [], options: { noBody?: boolean; eof?: boolean } = {}): Read {
  const out: Read = { status: null, headers: [], body: '', ends: [], lasts: 0, bodyAfterLast: false };
  const reader = new ResponseReader(
    {
      head: (status, headers) => {
        out.status = status;
        out.headers = headers;
      },
      body: (chunk, last) => {
        if (out.lasts > 0) out.bodyAfterLast = true;
        if (last) out.lasts++;
        out.body += chunk.toString('latin1');
      },
      end: (reusable) => out.ends.push(reusable),
    },
    options.noBody,
  );
  const bytes = Buffer.from(wire, 'latin1');
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) {
      // Fed as the connections feed it: a buffer written over once feed returns.
      const piece = Buffer.from(bytes.subarray(from, cut));
      reader.feed(piece);
      piece.fill('#');
    }
    from = Math.max(from, cut);
  }
  if (options.eof) reader.finish();
  return out;
}

/** The same response read whole and cut at every byte: all must read the same. */
function everyCut(wire: string, options: { noBody?: boolean; eof?: boolean } = {}): Read {
  const whole = read(wire, [], options);
  for (let i = 1; i < wire.length; i++) {
    assert.deepEqual(read(wire, [i], options), whole, `cut at byte ${i}`);
    assert.deepEqual(read(wire, [i, i + 1, i + 3], options), whole, `cut at bytes ${i}, ${i + 1}, ${i + 3}`);
  }
  return whole;
}

test('a response with a Content-Length: status, headers as sent, body, reusable', () => {
  const r = everyCut(
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\nX-A:  b c \r\n\r\n{"a":1}',
  );
  assert.equal(r.status, 200);
  assert.deepEqual(r.headers, ['Content-Type', 'application/json', 'Content-Length', '7', 'X-A', 'b c']);
  assert.equal(r.body, '{"a":1}');
  assert.deepEqual(r.ends, [true]);
  // However it was cut, the piece that ends the body says so (the gateway ends its answer with it).
  assert.equal(r.lasts, 1);
  assert.equal(r.bodyAfterLast, false);
});

test('chunked bodies lose their framing; extensions and trailers are read and dropped', () => {
  const r = everyCut(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n',
  );
  assert.equal(r.body, 'hello 0123456789');
  assert.equal(r.lasts, 0, 'a chunked body ends with its last chunk, not with a piece of data');
  assert.deepEqual(r.ends, [true]);
  assert.deepEqual(everyCut('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n').ends, [true]);
});

test('interim 1xx answers are skipped; the final one is the response', () => {
  const r = everyCut(
    'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
  );
  assert.equal(r.status, 201);
  assert.deepEqual(r.headers, ['Content-Length', '2']);
  assert.equal(r.body, 'ok');
});

test('without a length the body runs to the end of the connection, which is not reused', () => {
  const r = everyCut('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it', { eof: true });
  assert.equal(r.body, 'all of it');
  assert.deepEqual(r.ends, [false]);
});

test('no body for HEAD, 204 and 304; after a HEAD, Connection: close and HTTP/1.0 the connection is not reused', () => {
  assert.deepEqual(read('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', [], { noBody: true }).ends, [false]);
  assert.deepEqual(
    read('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found', [], { noBody: true }),
    {
      status: 404,
      headers: ['Content-Length', '9'],
      body: '',
      ends: [false],
      lasts: 0,
      bodyAfterLast: false,
    },
    'a body sent after a HEAD anyway is dropped with the connection',
  );
  assert.deepEqual(read('HTTP/1.1 204 No Content\r\n\r\n').ends, [true]);
  assert.deepEqual(read('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n').ends, [true]);
  assert.deepEqual(read('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx').ends, [false]);
  assert.deepEqual(read('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx').ends, [false]);
  assert.deepEqual(read('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx').ends, [
    true,
  ]);
});

test('what is not a valid response is an error that says so, never a hang or a guess', () => {
  const bad = (wire: string, message: RegExp, options: { eof?: boolean } = {}): void =>
    assert.throws(
      () => read(wire, [], options),
      (e: unknown) => e instanceof ResponseError && message.test(e.message),
    );
  bad('SSH-2.0-OpenSSH\r\n\r\n', /did not answer with HTTP/);
  bad('HTTP/1.1 2x0 OK\r\n\r\n', /invalid status line/);
  bad('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /malformed header/);
  bad('HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n', /malformed header/);
  bad('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/);
  bad('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /two different Content-Lengths/);
  assert.deepEqual(
    read('HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok').headers,
    ['Content-Length', '2'],
    'the same length twice is passed on once',
  );
  bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /invalid chunk size/);
  bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n', /chunk/);
  bad('HTTP/1.1 101 Switching Protocols\r\n\r\n', /switched protocols/);
  bad(
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    /both Transfer-Encoding and Content-Length/,
  );
  bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok', /both/);
  bad('HTTP/1.1 200 OK\nContent-Length: 2\n\nok', /bare LF/);
  bad('HTTP/1.1 200 OK\r\nX: a\nContent-Length: 2\r\n\r\nok', /bare LF/);
  bad('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy', /after its response ended/);
  bad(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70 * 1024)}`, /over 64 KiB/);
  bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '1'.repeat(5000), /chunk-size line over/);
  bad('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab', /in the middle of its response/, { eof: true });
  bad('', /without answering/, { eof: true });
});

test('a head that trickles in a byte at a time reads the same as one read whole', () => {
  const wire = `HTTP/1.1 200 OK\r\nX-Big: ${'v'.repeat(60 * 1024)}\r\nContent-Length: 2\r\n\r\nok`;
  const cuts = Array.from({ length: wire.length }, (_, i) => i);
  const r = read(wire, cuts);
  assert.equal(r.status, 200);
  assert.equal(r.headers[1]!.length, 60 * 1024);
  assert.equal(r.body, 'ok');
  assert.throws(
    () => read(`HTTP/1.1 200 OK\r\nX: ${'v'.repeat(70 * 1024)}`, cuts.slice(0, 70 * 1024)),
    /over 64 KiB/,
  );
});

import { sleep } from '../../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { createModelServer } from './server.ts';
import type { ModelServer, ModelServerOptions } from './server.ts';

const dir = mkdtempSync(join(tmpdir(), 'plinth-replica-'));
const servers: ModelServer[] = [];
after(async () => {
  for (const s of servers) await s.drain();
  rmSync(dir, { recursive: true, force: true });
});

async function start(
  source: string,
  predictConcurrency = 1,
  ext = '.mjs',
  token?: string,
  extra: Partial<ModelServerOptions> = {},
) {
  const file = join(dir, `model-${servers.length}${ext}`);
  writeFileSync(file, source);
  const loadErrors: Error[] = [];
  const s = createModelServer({
    modelFile: file,
    className: 'Model',
    predictConcurrency,
    context: { config: { greeting: 'hi' }, dataDir: join(dir, 'data'), secrets: {}, environment: null },
    onLoadError: (err) => loadErrors.push(err),
    ...(token ? { token } : {}),
    ...extra,
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
  const predict = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/models/model:predict`, { method: 'POST', body: JSON.stringify(body), headers });
  return { s, base, predict, loadErrors };
}

test('readiness answers 503 until load() finishes, while liveness answers at once', async () => {
  const { s, base, predict } = await start(`
    export class Model {
      constructor({ config }) { this.greeting = config.greeting; }
      async load() { await new Promise((r) => setTimeout(r, 300)); }
      predict(input) { return { text: this.greeting + ' ' + input.name }; }
    }`);
  assert.equal((await fetch(`${base}/`)).status, 200);
  assert.equal((await fetch(`${base}/v1/models/model`)).status, 503);
  await s.loaded;
  assert.equal((await fetch(`${base}/v1/models/model`)).status, 200);
  const res = await predict({ name: 'ada' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { text: 'hi ada' });
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  const bad = await fetch(`${base}/v1/models/model:predict`, { method: 'POST', body: '{not json' });
  assert.equal(bad.status, 400);
});

test('preprocess and postprocess wrap predict, and TypeScript model files load', async () => {
  const { s, predict } = await start(
    `
    export class Model {
      preprocess(input: { x: number }) { return input.x + 1; }
      async predict(x: number): Promise<number> { return x * 10; }
      postprocess(y: number) { return { y }; }
    }`,
    1,
    '.ts',
  );
  await s.loaded;
  assert.deepEqual(await (await predict({ x: 2 })).json(), { y: 30 });
});

test('a model error answers 500 with its message in JSON', async () => {
  const { s, predict } = await start(`
    export class Model { predict() { throw new Error('bad input shape'); } }`);
  await s.loaded;
  const res = await predict({});
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), { error: { code: 'MODEL_ERROR', message: 'bad input shape' } });
});

test('predict_concurrency caps requests inside the model; extra ones wait', async () => {
  const { s, predict } = await start(
    `
    let active = 0, peak = 0;
    export class Model {
      async predict(input) {
        if (input.peek) return { peak };
        active++; peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 50));
        active--;
        return { ok: true };
      }
    }`,
    2,
  );
  await s.loaded;
  const results = await Promise.all(Array.from({ length: 6 }, () => predict({})));
  assert.ok(results.every((r) => r.status === 200));
  assert.deepEqual(await (await predict({ peek: true })).json(), { peak: 2 });
});

test('an async generator streams: the first chunk arrives before the last is produced', async () => {
  const { s, predict } = await start(`
    export class Model {
      async *predict(input) {
        for (let i = 0; i < input.n; i++) {
          yield 'chunk ' + i + '\\n';
          await new Promise((r) => setTimeout(r, 150));
        }
      }
    }`);
  await s.loaded;
  const res = await predict({ n: 4 });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const started = Date.now();
  const arrivals: [string, number][] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    arrivals.push([Buffer.from(value).toString(), Date.now() - started]);
  }
  assert.equal(arrivals.map((a) => a[0]).join(''), 'chunk 0\nchunk 1\nchunk 2\nchunk 3\n');
  // Arrival order, not timing: the first chunk was read before the generator produced the rest.
  assert.ok(arrivals.length >= 2, `expected several reads, got ${arrivals.length}`);
  assert.equal(arrivals[0]![0], 'chunk 0\n');
});

test('an exception part-way through a stream ends it after the items already sent; the server keeps serving', async () => {
  const { s, predict } = await start(`
    export class Model {
      async *predict(input) {
        if (input.ok) { yield 'fine'; return; }
        yield 'one\\n'; yield 'two\\n';
        throw new Error('stream broke');
      }
    }`);
  await s.loaded;
  const res = await predict({});
  assert.equal(await res.text(), 'one\ntwo\n');
  assert.equal(await (await predict({ ok: true })).text(), 'fine');
});

test('server-sent events when the client asks for them', async () => {
  const { s, predict } = await start(`
    export class Model { async *predict() { yield { token: 'a' }; yield 'b'; } }`);
  await s.loaded;
  const res = await predict({}, { accept: 'text/event-stream' });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  assert.equal(await res.text(), 'data: {"token":"a"}\n\ndata: b\n\n');
});

test('a load() that throws is reported and readiness never turns green', async () => {
  const { base, loadErrors } = await start(`
    export class Model { load() { throw new Error('weights missing'); } predict() {} }`);
  await sleep(100);
  assert.equal(loadErrors[0]?.message, 'weights missing');
  assert.equal((await fetch(`${base}/v1/models/model`)).status, 503);
});

test('isHealthy() false turns readiness red', async () => {
  const { s, base } = await start(`
    export class Model { isHealthy() { return false; } predict() { return 1; } }`);
  await s.loaded;
  assert.equal((await fetch(`${base}/v1/models/model`)).status, 503);
});

test('isHealthy() that throws turns readiness red and is logged with its stack', async () => {
  const { s, base } = await start(`
    export class Model { isHealthy() { throw new Error('gpu lost'); } predict() { return 1; } }`);
  await s.loaded;
  const logged: string[] = [];
  const original = console.error;
  console.error = (line: string) => void logged.push(String(line));
  try {
    assert.equal((await fetch(`${base}/v1/models/model`)).status, 503);
  } finally {
    console.error = original;
  }
  assert.match(logged.join('\n'), /isHealthy\(\) threw: Error: gpu lost\n\s+at /);
});

test('an environment told while load() runs is set up before the model is ready', async () => {
  const source = `
    export class Model {
      constructor() { this.seen = []; }
      setupEnvironment(environment) { this.seen.push(environment && environment.name); }
      async load() { await new Promise((r) => setTimeout(r, 500)); }
      predict() { return { seen: this.seen }; }
    }`;
  const { s, base, predict } = await start(source, 1, '.mjs', 'tok', {
    context: { config: {}, dataDir: dir, secrets: {}, environment: { name: 'production' } },
  });
  const told = await fetch(`${base}/v1/environment`, {
    method: 'POST',
    headers: { 'x-plinth-replica-token': 'tok' },
    body: '{"environment": {"name": "staging"}}',
  });
  assert.equal(told.status, 200);
  await s.loaded;
  // Told before or after production was set up (the import's pace decides): staging last, once.
  const { seen } = (await (await predict({}, { 'x-plinth-replica-token': 'tok' })).json()) as {
    seen: string[];
  };
  assert.equal(seen.at(-1), 'staging');
  assert.equal(seen.filter((n) => n === 'staging').length, 1);
});

test('setupEnvironment() runs before load() for an environment, and again on POST /v1/environment without a restart', async () => {
  const source = `
    export class Model {
      constructor({ environment }) { this.seen = [environment && environment.name]; this.loadedWith = null; }
      setupEnvironment(environment) { this.seen.push(environment && environment.name); }
      load() { this.loadedWith = this.seen.at(-1); }
      predict() { return { seen: this.seen, loadedWith: this.loadedWith }; }
    }`;
  const { s, base, predict } = await start(source, 1, '.mjs', 'tok', {
    context: { config: {}, dataDir: dir, secrets: {}, environment: { name: 'production' } },
  });
  await s.loaded;
  const auth = { 'x-plinth-replica-token': 'tok' };
  assert.deepEqual(await (await predict({}, auth)).json(), {
    seen: ['production', 'production'],
    loadedWith: 'production',
  });
  const tell = (body: string, headers: Record<string, string> = auth) =>
    fetch(`${base}/v1/environment`, { method: 'POST', body, headers });
  assert.equal((await tell('{"environment": {"name": "staging"}}', {})).status, 401);
  assert.equal((await tell('not json')).status, 400);
  assert.equal((await tell('{"environment": {"name": "staging"}}')).status, 200);
  // The same environment again is no change.
  assert.equal((await tell('{"environment": {"name": "staging"}}')).status, 200);
  assert.deepEqual(((await (await predict({}, auth)).json()) as { seen: string[] }).seen, [
    'production',
    'production',
    'staging',
  ]);
});

test('a request whose body is cut off half-way ends that request only: the server answers the next', async () => {
  const { s, predict } = await start(`export class Model { predict(x) { return x; } }`);
  await s.loaded;
  const port = (s.server.address() as AddressInfo).port;
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => void unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(
      'POST /v1/models/model:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"partial":',
    );
    await sleep(100);
    socket.destroy();
    await sleep(100);
    assert.deepEqual(await (await predict({ after: true })).json(), { after: true });
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, [], 'the cut-off body became no unhandled rejection');
});

test('a stream waits for its reader: a client that stops reading pauses the model, memory does not grow', async () => {
  const { s } = await start(`
    export class Model {
      async *predict() {
        const chunk = 'x'.repeat(64 * 1024);
        for (let i = 0; i < 100000; i++) { globalThis.__pulled = i + 1; yield chunk; }
      }
    }`);
  await s.loaded;
  const port = (s.server.address() as AddressInfo).port;
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write('POST /v1/models/model:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
  socket.pause();
  await sleep(1500);
  const pulled = (globalThis as { __pulled?: number }).__pulled ?? 0;
  socket.destroy();
  // Socket buffers hold some megabytes; without backpressure it pulls thousands of 64 KiB chunks.
  assert.ok(pulled > 0 && pulled < 500, `the generator was pulled ${pulled} times while nobody read`);
});

test('with a token, predict answers only a request that carries it (x-plinth-replica-token)', async () => {
  const { s, base, predict } = await start(
    'export class Model { predict() { return { ok: true }; } }',
    1,
    '.mjs',
    'the-token',
  );
  await s.loaded;
  assert.equal((await predict({})).status, 401);
  assert.equal((await predict({}, { 'x-plinth-replica-token': 'the-tokem' })).status, 401);
  assert.equal((await predict({}, { 'x-plinth-replica-token': 'the-token-and-more' })).status, 401);
  const ok = await predict({}, { 'x-plinth-replica-token': 'the-token' });
  assert.deepEqual(await ok.json(), { ok: true });
  assert.equal((await fetch(`${base}/v1/models/model`)).status, 200, 'readiness needs no token');
});

test('a stream to a slow reader waits for it without piling up listeners', async () => {
  const { s, base } = await start(`
    export class Model {
      async *predict() { for (let i = 0; i < 200; i++) yield 'x'.repeat(64 * 1024); }
    }`);
  await s.loaded;
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  try {
    const { request } = await import('node:http');
    const total = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/v1/models/model:predict`, { method: 'POST' }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          // A reader slower than the model: the server's writes fill up and wait, again and again.
          res.pause();
          setTimeout(() => res.resume(), 1);
        });
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      });
      req.end('{}');
    });
    assert.equal(total, 200 * 64 * 1024);
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    );
  } finally {
    process.off('warning', onWarning);
  }
});

/** Opens a WebSocket to a model server; resolves once open, or with the status that refused it. */
function openSocket(base: string, headers: Record<string, string> = {}): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/websocket`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(String(data))));
}

function closeOf(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, String(reason)])));
}

const ECHO = `
  export class Model {
    websocket(ws) { ws.on('message', (m) => ws.send('echo:' + m)); }
  }`;

test('websocket(ws) is served on GET /v1/websocket, with the token checked before the upgrade', async () => {
  const { s, base, predict } = await start(ECHO, 1, '.mjs', 'tok');
  await s.loaded;
  assert.equal(await openSocket(base), 401, 'no token, no upgrade');
  assert.equal(await openSocket(base, { 'x-plinth-replica-token': 'tok!' }), 401);
  const ws = (await openSocket(base, { 'x-plinth-replica-token': 'tok' })) as WebSocket;
  ws.send('hi');
  assert.equal(await nextMessage(ws), 'echo:hi');
  const res = await predict({}, { 'x-plinth-replica-token': 'tok' });
  assert.equal(res.status, 404, 'a websocket model has no predict');
  assert.match(await res.text(), /websocket/);
  ws.close();
  await closeOf(ws);
});

test('an open WebSocket holds a predict slot: the next waits until it closes', async () => {
  const { s, base } = await start(ECHO, 1);
  await s.loaded;
  const first = (await openSocket(base)) as WebSocket;
  let secondOpen = false;
  const second = openSocket(base).then((ws) => {
    secondOpen = true;
    return ws as WebSocket;
  });
  await sleep(200);
  assert.equal(secondOpen, false, 'the only slot is taken');
  first.close();
  const ws = await second;
  ws.send('now');
  assert.equal(await nextMessage(ws), 'echo:now');
  ws.close();
  await closeOf(ws);
});

test('a model with both predict() and websocket(), or neither, is refused at load, by name', async () => {
  const both = await start(`export class Model { predict() {} websocket() {} }`);
  await assert.rejects(both.s.loaded, /Model in .* has both predict\(\) and websocket\(\)/);
  const neither = await start(`export class Model { load() {} }`);
  await assert.rejects(
    neither.s.loaded,
    /Model in .* has no predict\(\) method \(nor a websocket\(\) method\)/,
  );
});

test('a websocket() that throws closes with 1011 and logs its stack; a drain closes the others with 1001', async () => {
  const { s, base } = await start(
    `
    export class Model {
      async websocket(ws) {
        const first = await new Promise((r) => ws.once('message', r));
        if (String(first) === 'boom') throw new Error('exploded');
        ws.on('message', (m) => ws.send(String(m)));
        ws.send('ready');
      }
    }`,
    2,
  );
  await s.loaded;
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args.join(' '));
  try {
    const failing = (await openSocket(base)) as WebSocket;
    const closing = closeOf(failing);
    failing.send('boom');
    const [code, reason] = await closing;
    assert.equal(code, 1011);
    assert.match(reason, /exploded/);
    assert.ok(
      errors.some((e) => /websocket failed: Error: exploded\n\s+at /.test(e)),
      errors.join('\n'),
    );
  } finally {
    console.error = original;
  }
  const open = (await openSocket(base)) as WebSocket;
  const ready = nextMessage(open);
  open.send('go');
  assert.equal(await ready, 'ready');
  const closing = closeOf(open);
  await s.drain();
  assert.deepEqual(await closing, [1001, 'the replica is stopping']);
});

test('an open WebSocket is pinged at the configured interval', async () => {
  const { s, base } = await start(ECHO, 1, '.mjs', undefined, {
    websocketPing: { intervalMs: 100, timeoutMs: 1000 },
  });
  await s.loaded;
  const ws = (await openSocket(base)) as WebSocket;
  let pings = 0;
  ws.on('ping', () => pings++);
  await sleep(450);
  assert.ok(pings >= 3, `${pings} pings`);
  ws.close();
  await closeOf(ws);
});

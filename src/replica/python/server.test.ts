// The Python model server on its own, started as a replica is (its interpreter with Truss's server
// environment, a model directory, PLINTH_* settings), and spoken to over real sockets: the parts
// of Truss's contract an e2e run does not reach — the WebSocket protocol's edges, keepalive pings,
// request-only methods, and signatures refused at load.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { pythonWithServerPackages } from '../../../test/support/python-base.ts';
import { until } from '../../../test/support/wait.ts';

const SERVER = join(import.meta.dirname, 'server.py');
const TOKEN = 'test-token';
const scratch = mkdtempSync(join(tmpdir(), 'plinth-pyserver-'));
const started: ChildProcess[] = [];

after(() => {
  for (const p of started) p.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

interface Running {
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts the server on a model; resolves once it listens, with `ready` for once load() is done (or it is gone). */
async function launch(
  name: string,
  source: string,
  config: unknown = {},
  environment: { name: string } | null = null,
): Promise<Running & { ready: Promise<void> }> {
  const app = join(scratch, name);
  mkdirSync(join(app, 'model'), { recursive: true });
  writeFileSync(join(app, 'model', 'model.py'), source);
  const python = await pythonWithServerPackages();
  const child = spawn(python, ['-u', SERVER], {
    cwd: app,
    env: {
      PATH: process.env.PATH,
      PLINTH_APP_DIR: app,
      PLINTH_MODEL_FILE: 'model/model.py',
      PLINTH_CONFIG_JSON: JSON.stringify(config),
      PLINTH_LISTEN: '0',
      PLINTH_REPLICA_TOKEN: TOKEN,
      PLINTH_ENVIRONMENT_JSON: JSON.stringify(environment),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const m = /listening on (\S+)/.exec(output);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`server exited ${code}: ${output}`)));
  });
  const url = `http://${address}`;
  const ready = (async () => {
    for (;;) {
      const ok = await fetch(`${url}/v1/models/model`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok || child.exitCode !== null) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { url, output: () => output, exited, ready };
}

async function serve(name: string, source: string, config: unknown = {}): Promise<Running> {
  const running = await launch(name, source, config);
  await running.ready;
  return running;
}

const ECHO = `
import fastapi

class Model:
    async def websocket(self, ws: fastapi.WebSocket):
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    print("client left with", message.get("code"), flush=True)
                    return
                if message.get("text") is not None:
                    await ws.send_text(message["text"])
                else:
                    await ws.send_bytes(message["bytes"])
        except fastapi.WebSocketDisconnect as e:
            print("client left with", e.code, flush=True)
`;

function open(url: string, token: string | null = TOKEN): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/websocket`, {
    headers: token ? { 'x-plinth-replica-token': token } : {},
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, binary) => resolve({ data, binary })));
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

test('a websocket echoes text, bytes and a fragmented message; a ping is answered; a client close ends the model loop', async () => {
  const server = await serve('echo', ECHO);
  const ws = await open(server.url);
  ws.send('hello');
  assert.deepEqual((await next(ws)).data.toString(), 'hello');
  ws.send(Buffer.from([0, 1, 2, 255]));
  const bytes = await next(ws);
  assert.equal(bytes.binary, true);
  assert.deepEqual([...bytes.data], [0, 1, 2, 255]);
  // One text message in three frames.
  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted', { fin: true });
  assert.equal((await next(ws)).data.toString(), 'fragmented');
  const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
  ws.ping('are you there');
  assert.equal((await pong).toString(), 'are you there');
  const big = 'x'.repeat(200_000);
  ws.send(big);
  assert.equal((await next(ws)).data.toString().length, big.length);
  const done = closed(ws);
  ws.close(1000, 'bye');
  assert.equal((await done).code, 1000);
  await until('the model saw the client leave', () => /client left with 1000/.test(server.output()));
  assert.doesNotMatch(server.output(), /Traceback/);
});

test('a message over 16 MiB closes with 1009; an unmasked frame closes with 1002; no token gets 401', async () => {
  const server = await serve('limits', ECHO);
  const ws = await open(server.url);
  const tooBig = closed(ws);
  ws.send(Buffer.alloc(17 * 1024 * 1024));
  assert.equal((await tooBig).code, 1009);

  await assert.rejects(open(server.url, null), /Unexpected server response: 401/);

  // A raw client that does not mask its frame.
  const socket = await rawUpgrade(server.url);
  socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69])); // "hi", FIN + text, no mask
  await until('a close frame', () => socket.received().length >= 4);
  assert.equal(socket.received()[0], 0x88, 'a close frame');
  assert.equal(socket.received().readUInt16BE(2), 1002);
  socket.destroy();
});

test('runtime.transport pings the client and closes a connection whose pong never comes', async () => {
  const server = await serve('keepalive', ECHO, {
    runtime: { transport: { kind: 'websocket', ping_interval_seconds: 0.2, ping_timeout_seconds: 0.2 } },
  });
  // A client that answers pings stays open past several intervals.
  const ws = await open(server.url);
  let pings = 0;
  ws.on('ping', () => pings++);
  await until('three pings', () => pings >= 3);
  ws.send('still here');
  assert.equal((await next(ws)).data.toString(), 'still here');
  ws.close();

  // A client that never answers is closed with 1011.
  const socket = await rawUpgrade(server.url);
  await socket.ended;
  const received = socket.received();
  const closeAt = received.indexOf(Buffer.from([0x88]));
  assert.ok(closeAt >= 0, 'a close frame came before the end');
  assert.equal(received.readUInt16BE(closeAt + 2), 1011);
});

test('keepalive holds while the model only sends: pongs are read whether or not the model receives', async () => {
  const server = await serve(
    'pusher',
    `
import asyncio
import fastapi

class Model:
    async def websocket(self, ws: fastapi.WebSocket):
        await ws.accept()
        for i in range(20):
            await ws.send_text("tick %d" % i)
            await asyncio.sleep(0.1)
        await ws.close()
`,
    { runtime: { transport: { kind: 'websocket', ping_interval_seconds: 0.2, ping_timeout_seconds: 0.3 } } },
  );
  // Listening before the handshake ends: the first tick may come with it.
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/websocket`, {
    headers: { 'x-plinth-replica-token': TOKEN },
  });
  const ticks: string[] = [];
  ws.on('message', (data: Buffer) => ticks.push(data.toString()));
  const end = await closed(ws);
  assert.equal(end.code, 1000, server.output());
  assert.equal(ticks.length, 20);
});

test("a websocket() is handed an accepted socket (Truss's server accepts it) and one that returns at once closes with 1000; a bad close code is a protocol error", async () => {
  const server = await serve(
    'no-accept',
    `
class Model:
    async def websocket(self, ws):
        text = await ws.receive_text()
        await ws.send_text(text.upper())
`,
  );
  const leaver = await serve(
    'leaver',
    'class Model:\n    async def websocket(self, ws):\n        return None\n',
  );
  const left = await open(leaver.url);
  assert.equal((await closed(left)).code, 1000);
  const upper = await open(server.url);
  upper.send('quiet');
  assert.equal(String((await next(upper)).data), 'QUIET');
  upper.close();

  const echo = await serve('close-codes', ECHO);
  const socket = await rawUpgrade(echo.url);
  // A masked close frame carrying 1005, which only an endpoint's own report may use.
  socket.write(maskedFrame(0x8, Buffer.from([0x03, 0xed])));
  await until('a close frame', () => socket.received().length >= 4);
  assert.equal(socket.received()[0], 0x88);
  assert.equal(socket.received().readUInt16BE(2), 1002);
  socket.destroy();
});

test('a request read after is_disconnected() still has its body; an HTTPException 204 has no body and the connection serves on', async () => {
  const server = await serve(
    'requests',
    `
import fastapi

class Model:
    async def predict(self, request: fastapi.Request):
        if request.headers.get("x-mode") == "empty":
            raise fastapi.HTTPException(status_code=204)
        await request.is_disconnected()
        return await request.json()
`,
  );
  const call = (headers: Record<string, string>, body: string) =>
    fetch(`${server.url}/v1/models/model:predict`, {
      method: 'POST',
      headers: { 'x-plinth-replica-token': TOKEN, ...headers },
      body,
    });
  assert.deepEqual(await (await call({}, '{"a": 1}')).json(), { a: 1 });
  for (let i = 0; i < 3; i++) {
    const empty = await call({ 'x-mode': 'empty' }, '{}');
    assert.equal(empty.status, 204);
    assert.equal(await empty.text(), '');
    // The next request on the same keep-alive connection is framed right.
    assert.deepEqual(await (await call({}, '{"b": 2}')).json(), { b: 2 });
  }
});

test("a client that leaves a stream closes the model's async generator", async () => {
  const server = await serve(
    'leaving',
    `
import asyncio

class Model:
    async def predict(self, model_input):
        return self.tokens()

    async def tokens(self):
        try:
            for i in range(1000):
                yield "token %d\\n" % i
                await asyncio.sleep(0.05)
        finally:
            print("generator closed", flush=True)
`,
  );
  const gone = new AbortController();
  const res = await fetch(`${server.url}/v1/models/model:predict`, {
    method: 'POST',
    headers: { 'x-plinth-replica-token': TOKEN },
    body: '{}',
    signal: gone.signal,
  });
  const reader = res.body!.getReader();
  await reader.read();
  gone.abort();
  await until('the generator closed', () => /generator closed/.test(server.output()));
  assert.match(server.output(), /the client went away/);
});

test("a model that asks for none of Truss's server objects never has starlette or fastapi imported", async () => {
  const server = await serve(
    'plain',
    `
import sys

class Model:
    def predict(self, model_input):
        return {"loaded": sorted(m for m in ("starlette", "fastapi", "pydantic", "numpy") if m in sys.modules)}
`,
  );
  const res = await fetch(`${server.url}/v1/models/model:predict`, {
    method: 'POST',
    headers: { 'x-plinth-replica-token': TOKEN },
    body: '{}',
  });
  assert.deepEqual(await res.json(), { loaded: [] }, 'the model server starts on the standard library alone');
});

test('an environment told while the model loads is set up before it is ready; one told after, without a restart', async () => {
  const running = await launch(
    'environments',
    `
import os
import time

class Model:
    def __init__(self, environment=None):
        self.setups = []

    def setup_environment(self, environment):
        self.setups.append(environment["name"] if environment else None)

    def load(self):
        time.sleep(2)

    def predict(self, model_input):
        return {"setups": self.setups, "pid": os.getpid()}
`,
    {},
    { name: 'production' },
  );
  const tell = (name: string) =>
    fetch(`${running.url}/v1/environment`, {
      method: 'POST',
      headers: { 'x-plinth-replica-token': TOKEN },
      body: JSON.stringify({ environment: { name } }),
    });
  assert.equal((await tell('staging')).status, 200, 'taken while loading');
  await running.ready;
  const predict = async () =>
    (await (
      await fetch(`${running.url}/v1/models/model:predict`, {
        method: 'POST',
        headers: { 'x-plinth-replica-token': TOKEN },
        body: '{}',
      })
    ).json()) as { setups: string[]; pid: number };
  const first = await predict();
  // Told before or after production was set up (the import's pace decides): staging last, once.
  assert.equal(first.setups.at(-1), 'staging', 'set up for staging before it was ready');
  assert.equal(first.setups.filter((n) => n === 'staging').length, 1);
  assert.equal((await tell('canary')).status, 200);
  const second = await predict();
  assert.deepEqual(second.setups, [...first.setups, 'canary']);
  assert.equal(second.pid, first.pid);
});

test('a predict that takes only the request gets the raw body, unparsed', async () => {
  const server = await serve(
    'raw',
    `
import fastapi

class Model:
    async def predict(self, request: fastapi.Request):
        body = await request.body()
        return {"length": len(body), "query": request.query_params.get("q"), "method": request.method}
`,
  );
  const res = await fetch(`${server.url}/v1/models/model:predict?q=1`, {
    method: 'POST',
    headers: { 'x-plinth-replica-token': TOKEN },
    body: 'not json at all',
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { length: 15, query: '1', method: 'POST' });
});

test('signatures Truss refuses fail the load, naming the method', async () => {
  const cases: [string, RegExp][] = [
    ['    def predict(self, a, b, c):\n        return 1\n', /`predict` takes more than two arguments/],
    [
      '    def predict(self, x, y):\n        return 1\n',
      /`predict` takes two arguments: its second must be annotated `request: fastapi.Request`/,
    ],
    [
      '    def predict(self, x):\n        return 1\n    def is_healthy(self, x):\n        return True\n',
      /`is_healthy` must take no argument/,
    ],
    ['    def websocket(self, ws):\n        pass\n', /`websocket` must be an `async def`/],
    [
      '    def preprocess(self, x):\n        return x\n    def predict(self, request: fastapi.Request):\n        return 1\n',
      /`predict` takes only the request, so what `preprocess` returns would be lost/,
    ],
  ];
  for (const [i, [body, reason]] of cases.entries()) {
    const server = await serve(`refused-${i}`, `import fastapi\n\nclass Model:\n${body}`);
    assert.equal(await server.exited, 3, server.output());
    assert.match(server.output(), reason);
  }
});

interface RawSocket {
  /** Settles when the server has closed the connection. */
  ended: Promise<unknown>;
  write(data: Buffer): void;
  received(): Buffer;
  destroy(): void;
}

/** A hand-made WebSocket client: the upgrade sent, its answer checked, then frames as written. */
async function rawUpgrade(url: string): Promise<RawSocket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise((r) => socket.once('connect', r));
  let received = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  socket.write(
    'GET /v1/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nx-plinth-replica-token: ${TOKEN}\r\n\r\n`,
  );
  await until('the handshake answer', () => received.includes('\r\n\r\n'));
  assert.match(
    received.toString('latin1'),
    /^HTTP\/1\.1 101 .*\r\n[\s\S]*sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i,
  );
  received = Buffer.alloc(0);
  return {
    ended: new Promise((r) => socket.once('close', r)),
    write: (data) => socket.write(data),
    received: () => received,
    destroy: () => socket.destroy(),
  };
}

/** One client frame, masked as a client's must be. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

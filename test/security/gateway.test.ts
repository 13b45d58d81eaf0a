// Security: what a client can do to the gateway with what it sends — `Expect: 100-continue`, a
// chunked body past the limit, a response it never reads, a foreign Host, connections that say
// nothing — and the headers and files of the dashboard, and who may read /metrics.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { scratchDir } from '../support/scratch.ts';
import { sleep, until } from '../support/wait.ts';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from '../e2e/harness.ts';
import type { Platform } from '../e2e/harness.ts';

let platform: Platform;
const scratch = scratchDir('security-gateway');
const MiB = 1024 ** 2;

before(async () => {
  platform = await startPlatform(undefined, [
    ...['--max-body-bytes', String(2 * MiB), '--stall-timeout', '2', '--headers-timeout', '1'],
    ...['--max-connections', '200', '--metrics-auth'],
  ]);
  const dir = writeTree(`${scratch}/echo`, {
    'config.yaml': 'model_name: echo\nruntime:\n  predict_concurrency: 1\n',
    // Answers the size of what it got; or, asked to, streams far more than any socket buffers.
    'model/model.js': `export class Model {
  async *predict(input) {
    if (!input.flood) { yield JSON.stringify({ bytes: (input.data ?? '').length }); return; }
    const chunk = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 100000; i++) yield chunk;
  }
}\n`,
  });
  const pushed = await platform.cli(['push', dir]);
  assert.equal(pushed.code, 0, pushed.stderr);
});
after(async () => {
  if (process.env.DEBUG_SECURITY) console.log(platform.output());
  const logs = await platform.cli(['logs', '--model', 'echo', '--since', '30m']);
  if (process.env.DEBUG_SECURITY) console.log(logs.stdout, logs.stderr);
  await platform?.stop();
});

/** A raw HTTP request (node:http, which does send `Expect: 100-continue` and waits for the 100). */
function raw(
  path: string,
  headers: Record<string, string>,
  body: Buffer | null,
  chunked = false,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: platform.port,
        path,
        method: 'POST',
        headers: { authorization: `Api-Key ${platform.apiKey}`, ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (!body) return void req.end();
    const send = (): void => {
      if (!chunked) return void req.end(body);
      for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.subarray(at, at + 64 * 1024));
      req.end();
    };
    if (headers.expect) req.on('continue', send);
    else send();
  });
}

const payload = (bytes: number): Buffer => Buffer.from(JSON.stringify({ data: 'a'.repeat(bytes - 11) }));

test('a large body sent with Expect: 100-continue is answered on every URL form, and no replica is set aside', async () => {
  const model = (await platform.api<{ id: string }>('GET', '/v1/models/echo')).body.id;
  const body = payload(1.5 * MiB);
  for (const [path, host] of [
    ['/models/echo/production/predict', `127.0.0.1:${platform.port}`],
    ['/environments/production/predict', `model-${model}.localhost:${platform.port}`],
  ] as const) {
    const out = await raw(path, { expect: '100-continue', 'content-type': 'application/json', host }, body);
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(JSON.parse(out.text), { bytes: body.length - 11 });
  }
  const plain = await raw('/models/echo/production/predict', {}, payload(100));
  assert.equal(plain.status, 200, 'the replica still takes requests at once');
});

test('a chunked body past the limit is counted as it streams and refused with 413', async () => {
  const over = await raw(
    '/models/echo/production/predict',
    { 'transfer-encoding': 'chunked' },
    payload(3 * MiB),
    true,
  );
  assert.equal(over.status, 413, over.text);
  assert.equal(JSON.parse(over.text).error.code, 'PAYLOAD_TOO_LARGE');
  const under = await raw(
    '/models/echo/production/predict',
    { 'transfer-encoding': 'chunked' },
    payload(MiB),
    true,
  );
  assert.equal(under.status, 200, under.text);
});

test('a client that never reads a streaming answer loses its slot once the stall timeout is over', async () => {
  // predict_concurrency is 1: the stalled client holds the only slot until it is cut off.
  const stalled = connect(platform.port, '127.0.0.1');
  const body = JSON.stringify({ flood: true });
  stalled.write(
    `POST /models/echo/production/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Api-Key ${platform.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  stalled.pause(); // never reads
  stalled.on('error', () => undefined); // the server cuts it off
  await sleep(500);
  const next = await raw('/models/echo/production/predict', {}, payload(100));
  assert.equal(next.status, 200, 'the slot came back for the next client');
  stalled.destroy();
});

test('the host form answers only under the configured suffix', async () => {
  const model = (await platform.api<{ id: string }>('GET', '/v1/models/echo')).body.id;
  const foreign = await raw(
    '/environments/production/predict',
    { host: `model-${model}.evil.example` },
    payload(100),
  );
  assert.equal(foreign.status, 404, 'a foreign host is no inference route');
});

test('connections that send nothing are closed after the headers timeout; there is a cap', async () => {
  const sockets: Socket[] = [];
  const closed = new Set<Socket>();
  for (let i = 0; i < 250; i++) {
    const s = connect(platform.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('close', () => closed.add(s));
    sockets.push(s);
  }
  await until(
    'the connections over the cap closed',
    () => closed.size,
    (n) => n >= 50,
    10_000,
    50,
  );
  await until(
    'every silent connection closed',
    () => closed.size,
    (n) => n === 250,
    15_000,
    100,
  );
  assert.equal((await fetch(`${platform.url}/healthz`)).status, 200, 'the server serves on');
});

test('/metrics needs a key with --metrics-auth; the dashboard sends a strict CSP; /assets/.. is a 404', async () => {
  // An explicit empty header: the harness adds the key to requests that carry none.
  assert.equal((await fetch(`${platform.url}/metrics`, { headers: { authorization: '' } })).status, 401);
  const keyed = await fetch(`${platform.url}/metrics`, {
    headers: { authorization: `Api-Key ${platform.apiKey}` },
  });
  assert.equal(keyed.status, 200);
  const page = await fetch(`${platform.url}/`);
  assert.match(
    page.headers.get('content-security-policy') ?? '',
    /default-src 'self'.*frame-ancestors 'none'/,
  );
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  // Sent as they are (fetch would normalise them away).
  for (const path of ['/assets/..', '/assets/.', '/assets/%2e%2e']) {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: platform.port, path, method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 404, path);
  }
});

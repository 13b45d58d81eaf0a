// GET /v1/weights/{sha}: a file of the home's weights cache, whole or from a byte on (a pod's
// fetch resumes), named only by a sha256, for deploy-scoped keys.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { serverConfig } from '../../config/server-config.ts';
import { startServer } from '../../server.ts';
import type { RunningServer } from '../../server.ts';
import { plinthHome } from '../../home.ts';
import { WeightsCache } from '../../weights/cache.ts';

const home = mkdtempSync(join(tmpdir(), 'plinth-weights-route-'));
let server: RunningServer;
const BLOB = Buffer.from('0123456789abcdef'.repeat(64));
const SHA = createHash('sha256').update(BLOB).digest('hex');

before(async () => {
  server = await startServer(serverConfig({ homeDir: join(home, 'home'), port: 0 }));
  const path = new WeightsCache(plinthHome(join(home, 'home')).weightsCache).blobPath(SHA);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, BLOB);
});
after(async () => {
  await server.close();
  rmSync(home, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, {
    headers: { authorization: `Api-Key ${server.createdApiKey}`, ...headers },
  });

test('a weights file is served whole, from a byte on, and refused past its end', async () => {
  const whole = await get(`/v1/weights/${SHA}`);
  assert.equal(whole.status, 200);
  assert.deepEqual(Buffer.from(await whole.arrayBuffer()), BLOB);
  const rest = await get(`/v1/weights/${SHA}`, { range: 'bytes=1000-' });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers.get('content-range'), `bytes 1000-${BLOB.length - 1}/${BLOB.length}`);
  assert.deepEqual(Buffer.from(await rest.arrayBuffer()), BLOB.subarray(1000));
  const past = await get(`/v1/weights/${SHA}`, { range: `bytes=${BLOB.length}-` });
  assert.equal(past.status, 416);
  await past.arrayBuffer();
});

test('only a sha256 names a file, and a key is needed', async () => {
  assert.equal((await get('/v1/weights/..%2F..%2Fcredentials.json')).status, 400);
  assert.equal((await get(`/v1/weights/${'b'.repeat(64)}`)).status, 404);
  assert.equal((await fetch(`${server.url}/v1/weights/${SHA}`)).status, 401);
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { scratchDir } from '../../test/support/scratch.ts';
import { writeManifest } from './place.ts';
import { fetchWeightsInto } from './pod-fetch.ts';

const dir = scratchDir('pod-fetch');
const GOOD = Buffer.from('weights for a pod');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const served = new Map<string, Buffer>([[sha(GOOD), GOOD]]);
const asked: { url: string; auth: string | undefined }[] = [];
const server = createServer((req, res) => {
  asked.push({ url: req.url!, auth: req.headers.authorization });
  const body = served.get(req.url!.split('/').pop()!);
  if (!body) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-length': body.length }).end(body);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
after(() => server.close());
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/weights`;

function app(name: string, files: { path: string; sha256: string; size: number }[]): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeManifest(d, files);
  return d;
}

test("a pod fetches its app's weights by sha256 into the cache volume once, and links them into the app", async () => {
  const cache = join(dir, 'volume');
  const entry = { path: 'model_cache/m/w.bin', sha256: sha(GOOD), size: GOOD.length };
  const first = app('first', [entry]);
  await fetchWeightsInto(first, base, cache, 'key-1', () => {});
  assert.deepEqual(readFileSync(join(first, entry.path)), GOOD);
  assert.deepEqual(asked, [{ url: `/v1/weights/${sha(GOOD)}`, auth: 'Bearer key-1' }]);
  // Another pod (another app dir) on the same volume fetches nothing.
  const second = app('second', [entry]);
  await fetchWeightsInto(second, base, cache, 'key-1', () => {});
  assert.equal(asked.length, 1);
  assert.ok(
    lstatSync(join(second, entry.path)).isFile() || lstatSync(join(second, entry.path)).isSymbolicLink(),
  );
});

test('content whose sha256 is not the one asked for is refused', async () => {
  const liar = Buffer.from('not what was asked');
  served.set('a'.repeat(64), liar);
  const bad = app('bad', [{ path: 'w.bin', sha256: 'a'.repeat(64), size: liar.length }]);
  await assert.rejects(
    fetchWeightsInto(bad, base, join(dir, 'volume'), undefined, () => {}),
    /w\.bin: .*its sha256 is/,
  );
});

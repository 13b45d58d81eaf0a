import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FakeHub, sha256 } from '../../test/support/fake-hf-hub.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { WeightsCache } from './cache.ts';
import type { FileSpec } from './cache.ts';

const dir = scratchDir('weights-cache');
let hub: FakeHub;
const BIG = Buffer.alloc(256 * 1024, 7);
before(async () => {
  hub = await FakeHub.start();
  hub.add('org/m', { files: { 'big.bin': BIG, 'small.txt': 'hello' }, lfs: ['big.bin'] });
});
after(() => hub.close());

function spec(path: string, overrides: Partial<FileSpec> = {}): FileSpec {
  const buf = path === 'big.bin' ? BIG : Buffer.from('hello');
  return {
    key: `test\n${path}\n${Math.random()}`,
    file: `org/m: ${path}`,
    url: `${hub.url}/org/m/resolve/main/${path}`,
    expectedSize: buf.length,
    expectedSha256: sha256(buf),
    expectedGitOid: null,
    token: null,
    ...overrides,
  };
}

test('several asking at once, in one process or through another cache on the same directory, fetch the file once', async () => {
  const root = join(dir, 'once');
  const [a, b] = [new WeightsCache(root), new WeightsCache(root)];
  const s = spec('big.bin', { expectedSha256: null });
  const before = hub.downloadsOf('org/m', 'big.bin').length;
  const results = await Promise.all([a.ensure(s), a.ensure(s), b.ensure(s), b.ensure(s)]);
  assert.equal(hub.downloadsOf('org/m', 'big.bin').length - before, 1);
  // The callers of one cache share its download; the other cache waited for the lock's holder.
  assert.deepEqual(
    results.map((r) => r.fetched),
    [true, true, false, false],
  );
  const blob = a.blobPath(sha256(BIG));
  assert.deepEqual(readFileSync(blob), BIG);
  assert.equal(statSync(blob).mode & 0o222, 0, 'blobs are read-only');
  // Asked again later: from the index, no request.
  assert.equal((await new WeightsCache(root).ensure(s)).fetched, false);
  assert.equal(hub.downloadsOf('org/m', 'big.bin').length - before, 1);
});

test('a download cut off mid-body is resumed from where it stopped', async () => {
  const cache = new WeightsCache(join(dir, 'resume'));
  hub.cutOnce('org/m', 'big.bin', 100_000);
  const before = hub.downloadsOf('org/m', 'big.bin').length;
  const got = await cache.ensure(spec('big.bin'));
  const tries = hub.downloadsOf('org/m', 'big.bin').slice(before);
  assert.equal(tries.length, 2);
  assert.equal(tries[0]!.range, null);
  assert.match(tries[1]!.range ?? '', /^bytes=\d+-$/);
  assert.ok(Number(/\d+/.exec(tries[1]!.range!)![0]) > 0);
  assert.deepEqual(readFileSync(cache.blobPath(got.entry.sha256)), BIG);
});

test('content whose sha256 or size is not what the source said is discarded with an error naming the file', async () => {
  const cache = new WeightsCache(join(dir, 'mismatch'));
  await assert.rejects(
    cache.ensure(spec('small.txt', { expectedSha256: 'a'.repeat(64) })),
    /org\/m: small.txt: .*resolve\/main\/small.txt: its sha256 is [0-9a-f]{64}; the source says a{64}; the download was discarded/,
  );
  await assert.rejects(
    cache.ensure(spec('small.txt', { expectedSha256: null, expectedGitOid: 'b'.repeat(40) })),
    /git blob id/,
  );
  assert.deepEqual(readdirSync(join(dir, 'mismatch', 'blobs')), []);
  assert.deepEqual(readdirSync(join(dir, 'mismatch', 'partial')), []);
});

test('content already cached under another name is not downloaded again', async () => {
  const cache = new WeightsCache(join(dir, 'dedup'));
  await cache.ensure(spec('big.bin'));
  const before = hub.downloads.length;
  const again = await cache.ensure(spec('big.bin'));
  assert.equal(again.fetched, true);
  assert.equal(hub.downloads.length, before);
});

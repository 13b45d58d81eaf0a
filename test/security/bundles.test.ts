// Security: a gzip bomb (a small bundle that inflates to gigabytes) is refused at the header that
// declares too much, without inflating it; an honest, highly compressible bundle is accepted and
// unpacked without holding it whole in memory.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { packDirectory } from '../../src/bundle/pack.ts';
import { residentBytes } from '../support/proc-memory.ts';
import { tarHeader } from '../support/tar.ts';
import { pushBundle } from '../support/push-bundle.ts';
import { scratchDir } from '../support/scratch.ts';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from '../e2e/harness.ts';
import type { Platform } from '../e2e/harness.ts';

let platform: Platform;
const scratch = scratchDir('security-bundles');
const MiB = 1024 ** 2;

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
});

test('a 2 MB gzip bomb that would inflate to 2.2 GB is refused at once, memory untouched', async () => {
  // Gzip members concatenate: one header member, then the same 64 MiB of zeros again and again.
  const zeros = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
  const size = 35 * 64 * MiB;
  const bomb = Buffer.concat([
    gzipSync(tarHeader({ path: 'model/weights.bin', size })),
    ...Array(35).fill(zeros),
  ]);
  assert.ok(bomb.length < 3 * MiB, `the bomb is small (${bomb.length} bytes)`);
  const sha = createHash('sha256').update(bomb).digest('hex');
  const before = residentBytes(platform.pid);
  const out = await pushBundle(platform.url, platform.apiKey, 'bomb', bomb, sha);
  assert.equal(out.status, 400, JSON.stringify(out.body));
  assert.equal(out.body.error?.code, 'INVALID_BUNDLE');
  assert.match(out.body.error!.message, /more than \d+ bytes when unpacked/);
  const grew = residentBytes(platform.pid) - before;
  assert.ok(grew < 200 * MiB, `the server's memory grew by ${Math.round(grew / MiB)} MiB`);
  assert.equal((await fetch(`${platform.url}/healthz`)).status, 200);
});

test('an honest, highly compressible bundle (a 200 MB text file) is accepted and unpacked in bounded memory', async () => {
  const line = 'the same line of a big text corpus, again and again\n';
  const dir = writeTree(`${scratch}/corpus`, {
    'config.yaml': 'model_name: corpus\n',
    'model/model.js': 'export class Model { predict() { return 1; } }\n',
    'data/corpus.txt': line.repeat(Math.ceil((200 * MiB) / line.length)),
  });
  const packed = await packDirectory(dir);
  assert.ok(packed.bytes.length < 5 * MiB, 'it compresses well');
  const before = residentBytes(platform.pid);
  const out = await pushBundle(platform.url, platform.apiKey, 'corpus', packed.bytes, packed.sha256);
  assert.equal(out.status, 201, JSON.stringify(out.body));
  const grew = residentBytes(platform.pid) - before;
  assert.ok(grew < 150 * MiB, `the server's memory grew by ${Math.round(grew / MiB)} MiB for a 200 MiB file`);
});

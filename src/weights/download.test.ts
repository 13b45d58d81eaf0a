import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mountSmallDisk, unmount } from '../../test/support/small-disk.ts';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { scratchDir } from '../../test/support/scratch.ts';
import type { DownloadError } from './download.ts';
import { downloadResumable } from './download.ts';

const dir = scratchDir('download');
const CONTENT = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
const seen: (string | null)[] = [];
let mode: 'ranges' | 'ignore-range' | 'stall' | 'missing' | 'endless' = 'ranges';

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  seen.push(req.headers.range ?? null);
  if (mode === 'missing') {
    res.writeHead(404);
    return void res.end('no');
  }
  if (mode === 'endless') {
    // No size announced, small chunks, until the client hangs up.
    res.writeHead(200);
    const chunk = Buffer.alloc(1000, 1);
    const timer = setInterval(() => res.write(chunk), 1);
    res.on('close', () => clearInterval(timer));
    return;
  }
  if (mode === 'stall') {
    res.writeHead(200, { 'content-length': String(CONTENT.length) });
    return void res.write(CONTENT.subarray(0, 3));
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m && mode === 'ranges') {
    const start = Number(m[1]);
    res.writeHead(206, { 'content-range': `bytes ${start}-${CONTENT.length - 1}/${CONTENT.length}` });
    return void res.end(CONTENT.subarray(start));
  }
  res.writeHead(200, { 'content-length': String(CONTENT.length) });
  res.end(CONTENT);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
after(() => {
  server.closeAllConnections();
  server.close();
});
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/w.bin`;
const options = { file: 'weights[0]: w.bin', expectedSize: CONTENT.length, token: null, stallMs: 10_000 };

test('a partial file is resumed with a Range request and ends whole', async () => {
  mode = 'ranges';
  seen.length = 0;
  const partial = join(dir, 'resume.partial');
  writeFileSync(partial, CONTENT.subarray(0, 10));
  assert.equal(await downloadResumable(url, partial, options), CONTENT.length);
  assert.deepEqual(seen, ['bytes=10-']);
  assert.deepEqual(readFileSync(partial), CONTENT);
});

test('a server that answers 200 to a Range request restarts the file from the start', async () => {
  mode = 'ignore-range';
  const partial = join(dir, 'restart.partial');
  writeFileSync(partial, 'XXXXX');
  await downloadResumable(url, partial, options);
  assert.deepEqual(readFileSync(partial), CONTENT);
});

test('a 404 names the file, the URL and the status; a size other than announced is refused', async () => {
  mode = 'missing';
  await assert.rejects(
    downloadResumable(url, join(dir, 'missing.partial'), options),
    (err: DownloadError) => {
      assert.equal(err.status, 404);
      assert.equal(err.message, `weights[0]: w.bin: GET ${url} answered HTTP 404`);
      return true;
    },
  );
  mode = 'ranges';
  await assert.rejects(
    downloadResumable(url, join(dir, 'size.partial'), { ...options, expectedSize: 5 }),
    /is 36 bytes; the source said 5/,
  );
});

test('a download that stalls is aborted, keeping what arrived for the next try', async () => {
  mode = 'stall';
  const partial = join(dir, 'stall.partial');
  await assert.rejects(
    downloadResumable(url, partial, { ...options, stallMs: 200 }),
    /stopped after 3 bytes \(no data for 0.2 s\)/,
  );
  assert.equal(readFileSync(partial).length, 3);
});

test('a source that announces no size stops at the byte limit, and a full disk is an error naming ENOSPC, its partial gone', async (t) => {
  mode = 'endless';
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/endless`;
  const capped = join(dir, 'endless.partial');
  await assert.rejects(
    downloadResumable(url, capped, {
      file: 'data/endless',
      expectedSize: null,
      token: null,
      stallMs: 5000,
      maxBytes: 20_000,
    }),
    (err: DownloadError) => /data\/endless: GET .* sent more than 20000 bytes/.test(err.message),
  );
  const disk = join(dir, 'small-disk');
  mkdirSync(disk, { recursive: true });
  const why = await mountSmallDisk(disk, 1);
  if (why) return t.skip(why);
  try {
    const partial = join(disk, 'full.partial');
    await assert.rejects(
      downloadResumable(url, partial, { file: 'data/full', expectedSize: null, token: null, stallMs: 5000 }),
      (err: DownloadError) => /data\/full: GET .*writing .* failed: ENOSPC/.test(err.message),
    );
    assert.ok(!existsSync(partial), 'what did not fit is removed');
  } finally {
    await unmount(disk);
  }
});

import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { create } from 'tar';
import { archiveDirectory, unpackArchive } from './directory-archive.ts';

const root = scratchDir('archive');

test('a directory comes back whole, its absolute and relative symbolic links as they were', async () => {
  const src = join(root, 'venv');
  mkdirSync(join(src, 'bin'), { recursive: true });
  mkdirSync(join(src, 'lib', 'site-packages'), { recursive: true });
  writeFileSync(join(src, 'lib', 'site-packages', 'six.py'), 'VERSION = 1\n');
  symlinkSync('/usr/bin/env', join(src, 'bin', 'python'));
  symlinkSync('python', join(src, 'bin', 'python3'));
  symlinkSync('lib', join(src, 'lib64'));
  const dest = join(root, 'fetched');
  await unpackArchive(archiveDirectory(src), dest);
  assert.equal(readFileSync(join(dest, 'lib64', 'site-packages', 'six.py'), 'utf8'), 'VERSION = 1\n');
  assert.equal(readlinkSync(join(dest, 'bin', 'python')), '/usr/bin/env');
  assert.equal(readlinkSync(join(dest, 'bin', 'python3')), 'python');
});

test('an entry outside the target directory is refused', async () => {
  const inner = join(root, 'a', 'b');
  mkdirSync(inner, { recursive: true });
  writeFileSync(join(root, 'a', 'escape.txt'), 'out\n');
  const chunks: Buffer[] = [];
  for await (const c of create({ cwd: inner, gzip: true, preservePaths: true }, ['../escape.txt']))
    chunks.push(c as Buffer);
  const dest = join(root, 'target', 'inside');
  await assert.rejects(
    unpackArchive(Readable.from([Buffer.concat(chunks)]), dest),
    /the archive has an entry outside its directory: \.\.\/escape\.txt/,
  );
  assert.equal(existsSync(join(root, 'target', 'escape.txt')), false, 'nothing written outside');
});

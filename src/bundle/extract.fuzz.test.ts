// Property test: whatever a bundle holds (paths that escape, links that point out, devices,
// truncated or corrupted gzip), extraction either writes every file inside its directory or
// refuses with INVALID_BUNDLE and leaves nothing behind — and never writes outside.
import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PlinthError } from '../domain/errors.ts';
import { random } from '../../test/support/fuzz.ts';
import { extractBundle } from './extract.ts';

const scratch = scratchDir('extract-fuzz');

/** A ustar header + data block for one entry. */
function entry(name: string, type: string, data: Buffer, linkname = ''): Buffer {
  const header = Buffer.alloc(512);
  header.write(name.slice(0, 100), 0, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write(type, 156);
  header.write(linkname.slice(0, 100), 157, 'utf8');
  header.write('ustar\u000000', 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return Buffer.concat([header, padded]);
}

const NAMES = [
  'a.txt',
  'dir/b.txt',
  'model/model.py',
  '../escape.txt',
  '/abs.txt',
  'dir/../../up.txt',
  'link',
  'dir/link2',
  './c.txt',
  'dir',
];
const LINKS = ['a.txt', '../outside', '/etc/passwd', 'dir/../..', 'dir/b.txt'];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

test('bundles: any tarball is extracted inside its directory or refused, never half-written', async () => {
  const outside = join(scratch, 'outside-sentinel');
  mkdirSync(outside);
  for (let seed = 1; seed <= 250; seed++) {
    const r = random(seed);
    const parts: Buffer[] = [];
    for (let i = 0; i < 1 + r.int(5); i++) {
      const type = r.pick(['0', '0', '0', '2', '1', '5', '3', '6']);
      parts.push(
        entry(r.pick(NAMES), type, type === '0' ? Buffer.from(r.string(40)) : Buffer.alloc(0), r.pick(LINKS)),
      );
    }
    let bytes = gzipSync(Buffer.concat([...parts, Buffer.alloc(1024)]));
    if (seed % 7 === 0) bytes = bytes.subarray(0, r.int(bytes.length));
    if (seed % 11 === 0) bytes[r.int(bytes.length)]! ^= 0xff;
    const root = join(scratch, `case-${seed}`);
    mkdirSync(root);
    const dest = join(root, 'app');
    try {
      await extractBundle(bytes, dest);
      for (const file of walk(dest)) {
        assert.ok(!relative(dest, file).startsWith('..'), `seed ${seed}: ${file} is outside`);
        if (lstatSync(file).isSymbolicLink()) {
          const target = resolve(join(file, '..'), readlinkSync(file));
          assert.ok(!isAbsolute(readlinkSync(file)), `seed ${seed}: absolute link ${file}`);
          assert.ok(!relative(dest, target).startsWith('..'), `seed ${seed}: ${file} points outside`);
        }
      }
    } catch (err) {
      assert.ok(err instanceof PlinthError, `seed ${seed}: ${String(err)}`);
      assert.equal(err.code, 'INVALID_BUNDLE', `seed ${seed}`);
      assert.equal(existsSync(dest), false, `seed ${seed}: a refused bundle leaves no directory`);
    }
    assert.deepEqual(
      readdirSync(root).filter((n) => n !== 'app'),
      [],
      `seed ${seed}: nothing written beside the directory`,
    );
    assert.deepEqual(readdirSync(outside), [], `seed ${seed}: nothing written outside`);
  }
  assert.equal(existsSync(join(scratch, 'escape.txt')), false);
});

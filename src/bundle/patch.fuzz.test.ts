// Property test: any patch body is refused with a clear error or, once checked, applied strictly
// inside the model directory.
import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { PlinthError } from '../domain/errors.ts';
import { random } from '../../test/support/fuzz.ts';
import { applyPatch, checkPatch } from './patch.ts';

const scratch = scratchDir('patch-fuzz');

const PATHS = [
  'a.txt',
  'model/model.py',
  '../x',
  '/etc/x',
  'a/../../b',
  'node_modules/m.js',
  'ok/deep/f',
  '',
  './a',
  'a\\b',
  'dir/',
];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

test('patches: any body is refused clearly or applied inside the directory', () => {
  for (let seed = 1; seed <= 500; seed++) {
    const r = random(seed);
    const body =
      seed % 4 === 0
        ? r.value()
        : {
            base_sha256: r.next() < 0.9 ? 'b'.repeat(64) : r.string(64),
            files: Array.from({ length: r.int(4) }, () =>
              r.next() < 0.9
                ? { path: r.pick(PATHS), content_base64: Buffer.from(r.string(20)).toString('base64') }
                : r.value(1),
            ),
            removed: Array.from({ length: r.int(3) }, () => (r.next() < 0.9 ? r.pick(PATHS) : r.value(1))),
          };
    let patch;
    try {
      patch = checkPatch(body);
    } catch (err) {
      assert.ok(err instanceof PlinthError, `seed ${seed}: ${String(err)}`);
      assert.ok(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE'].includes(err.code), `seed ${seed}: ${err.code}`);
      continue;
    }
    const root = join(scratch, `case-${seed}`);
    const dir = join(root, 'app');
    mkdirSync(dir, { recursive: true });
    try {
      applyPatch(dir, patch);
    } catch (err) {
      // A file where a directory must go (a.txt then a.txt/…) is an error, but never an escape.
      assert.ok((err as NodeJS.ErrnoException).code, `seed ${seed}: ${String(err)}`);
    }
    for (const f of walk(root)) assert.ok(!relative(dir, f).startsWith('..'), `seed ${seed}: wrote ${f}`);
  }
});

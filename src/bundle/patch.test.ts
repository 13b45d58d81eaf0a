import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PlinthError } from '../domain/errors.ts';
import { writeTree } from '../../test/support/write-tree.ts';
import { applyPatch, checkPatch, diffSnapshots, makePatch, snapshotDirectory } from './patch.ts';

const scratch = scratchDir('patch');
const base = 'a'.repeat(64);

test('a snapshot diff finds changed, added and removed files, and honours the ignore file', () => {
  const dir = writeTree(join(scratch, 'diff'), {
    'config.yaml': 'model_name: x\n',
    'model/model.py': 'v1',
    'data/old.txt': 'old',
    '.plinthignore': 'scratch/\n',
  });
  const before = snapshotDirectory(dir);
  writeTree(dir, { 'model/model.py': 'v2', 'data/new.txt': 'new', 'scratch/tmp.txt': 'ignored' });
  rmSync(join(dir, 'data/old.txt'));
  const after = snapshotDirectory(dir);
  assert.deepEqual(diffSnapshots(before, after), {
    changed: ['data/new.txt', 'model/model.py'],
    removed: ['data/old.txt'],
  });
  assert.deepEqual(diffSnapshots(after, after), { changed: [], removed: [] });
});

test('a patch made from one directory turns a copy of its old state into its new state', () => {
  const source = writeTree(join(scratch, 'source'), { 'a.txt': 'A', 'sub/b.txt': 'B' });
  const target = writeTree(join(scratch, 'target'), { 'a.txt': 'A', 'sub/b.txt': 'B' });
  const before = snapshotDirectory(source);
  writeTree(source, { 'a.txt': 'A2', 'new/deep/c.bin': '\u0000\u0001binary' });
  rmSync(join(source, 'sub/b.txt'));
  const { changed, removed } = diffSnapshots(before, snapshotDirectory(source));
  applyPatch(target, checkPatch(JSON.parse(JSON.stringify(makePatch(source, base, changed, removed)))));
  assert.equal(readFileSync(join(target, 'a.txt'), 'utf8'), 'A2');
  assert.equal(readFileSync(join(target, 'new/deep/c.bin'), 'utf8'), '\u0000\u0001binary');
  assert.equal(existsSync(join(target, 'sub/b.txt')), false);
});

test('a patch that names a path outside the model directory, or is malformed, is refused before anything is written', () => {
  const refused = (body: unknown, pattern: RegExp): void =>
    assert.throws(
      () => checkPatch(body),
      (err: unknown) => err instanceof PlinthError && pattern.test(err.message),
    );
  const file = (path: string) => ({ base_sha256: base, files: [{ path, content_base64: '' }], removed: [] });
  refused(file('../escape.txt'), /files\[0\]\.path: "\.\.\/escape\.txt" is not a relative path/);
  refused(file('/etc/passwd'), /not a relative path/);
  refused(file('a/./b'), /not a relative path/);
  refused(file('a\\b'), /not a relative path/);
  refused(file('node_modules/x.js'), /not a relative path/);
  refused({ base_sha256: base, files: [], removed: ['ok', '../x'] }, /removed\[1\]/);
  refused({ base_sha256: 'nope', files: [], removed: [] }, /base_sha256/);
  refused({ base_sha256: base, files: {}, removed: [] }, /"files" and "removed" must be arrays/);
  refused({ base_sha256: base, files: [{ path: 'a' }], removed: [] }, /content_base64/);
  assert.throws(
    () =>
      checkPatch(
        { base_sha256: base, files: [{ path: 'a', content_base64: 'QUJD' }], removed: [] },
        { maxBytes: 2, maxFiles: 10 },
      ),
    (err: unknown) => err instanceof PlinthError && err.code === 'PAYLOAD_TOO_LARGE',
  );
});

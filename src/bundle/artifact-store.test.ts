import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PlinthError } from '../domain/errors.ts';
import { ArtifactStore } from './artifact-store.ts';

test('a bundle is stored under its hash, a wrong hash is refused, and what a crash half-wrote is cleared', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-artifacts-'));
  try {
    const bytes = Buffer.from('a bundle');
    const sha = createHash('sha256').update(bytes).digest('hex');
    const store = new ArtifactStore(dir);
    assert.throws(
      () => store.put('0'.repeat(64), bytes),
      (err: unknown) => err instanceof PlinthError && err.code === 'BUNDLE_HASH_MISMATCH',
    );
    assert.equal(store.has('0'.repeat(64)), false);
    store.put(sha, bytes);
    assert.deepEqual(store.get(sha), bytes);

    writeFileSync(join(dir, `${'b'.repeat(64)}.tar.gz.tmp-123-456`), 'half');
    const reopened = new ArtifactStore(dir);
    assert.deepEqual(readdirSync(dir), [`${sha}.tar.gz`]);
    assert.equal(reopened.has(sha), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

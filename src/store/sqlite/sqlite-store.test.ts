import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runStoreSuite } from '../store-suite.ts';
import { openSqliteStore } from './open.ts';

runStoreSuite('sqlite (memory)', () => openSqliteStore(':memory:'));

test('a SQLite store on disk keeps its data across a reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-store-'));
  try {
    const file = join(dir, 'plinth.db');
    const first = await openSqliteStore(file);
    const model = await first.createModel('kept');
    await first.close();
    const second = await openSqliteStore(file);
    assert.deepEqual(await second.getModel('kept'), model);
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

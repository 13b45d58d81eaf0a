// The cross-process lock: held once; taken over from a dead owner on this host; from another host
// (whose pids mean nothing here) only once its holder has stopped refreshing it.
import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { scratchDir } from '../../test/support/scratch.ts';
import { FOREIGN_STALE_MS, touchLock, tryLock, unlock } from './process-lock.ts';

const dir = scratchDir('process-lock');
const ago = (file: string, ms: number): void => {
  const then = new Date(Date.now() - ms);
  utimesSync(file, then, then);
};

test('a lock is held once, and given back', () => {
  const file = join(dir, 'once.lock');
  assert.ok(tryLock(file));
  assert.ok(!tryLock(file), 'held by this very process: not taken again');
  unlock(file);
  assert.ok(tryLock(file));
  unlock(file);
});

test("a dead owner's lock on this host is taken over, in the old and the new owner format", () => {
  for (const owner of ['999999:1', `${hostname()}:999999:1`]) {
    const file = join(dir, `dead-${owner.length}.lock`);
    writeFileSync(file, owner);
    assert.ok(tryLock(file), owner);
    unlock(file);
  }
});

test("another host's lock counts as held while it is refreshed, and stale once it is not", () => {
  const file = join(dir, 'foreign.lock');
  writeFileSync(file, 'another-control-plane-7f9c:1:12345');
  assert.ok(!tryLock(file), 'a fresh foreign lock is not taken');
  ago(file, FOREIGN_STALE_MS - 60_000);
  assert.ok(!tryLock(file), 'refreshed recently enough');
  ago(file, FOREIGN_STALE_MS + 60_000);
  touchLock(file);
  assert.ok(!tryLock(file), 'touchLock refreshed it');
  ago(file, FOREIGN_STALE_MS + 60_000);
  assert.ok(tryLock(file), 'not refreshed for too long: taken over');
  unlock(file);
});

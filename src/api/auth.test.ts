import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlinthError } from '../domain/errors.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { Authenticator } from './auth.ts';

test('keys are checked by hash; a revoked key is refused at once; repeated failures from one client slow down', async () => {
  const store = await openSqliteStore(':memory:');
  const auth = new Authenticator(store, 3);
  const { key, secret } = await auth.create('ci', 'deploy');
  assert.equal((await auth.authenticate(`Api-Key ${secret}`, 'a')).id, key.id);
  assert.equal((await auth.authenticate(`Bearer ${secret}`, 'a')).id, key.id);
  await auth.revoke(key.id);
  await assert.rejects(
    auth.authenticate(`Api-Key ${secret}`, 'a'),
    /invalid or revoked/,
    'not served from the cache',
  );
  const refused = (header: string | undefined, client: string) =>
    assert.rejects(
      auth.authenticate(header, client),
      (e: unknown) => e instanceof PlinthError && e.code === 'UNAUTHENTICATED',
    );
  await refused(undefined, 'b');
  await refused('Api-Key nope', 'b');
  assert.equal(auth.failureDelayMs('b'), 0, 'a few failures cost nothing');
  await refused('Api-Key nope', 'b');
  await refused('Api-Key nope', 'b');
  assert.equal(auth.failureDelayMs('b'), 100, 'then each failure waits longer');
  await refused('Api-Key nope', 'b');
  assert.equal(auth.failureDelayMs('b'), 200);
  assert.equal(auth.failureDelayMs('c'), 0, 'other clients are not affected');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlinthError } from '../domain/errors.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import type { Model } from '../domain/types.ts';
import { Authenticator, inferenceAuthorizer } from './auth.ts';

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

test('a header checked lately answers without a promise; revoking, expiring or forgetting ends that', async () => {
  const store = await openSqliteStore(':memory:');
  const auth = new Authenticator(store);
  const { key, secret } = await auth.create('caller', 'inference', ['m1']);
  const header = `Api-Key ${secret}`;
  assert.equal(auth.cached(header), null, 'never seen: no answer without the store');
  await auth.authenticate(header);
  assert.equal(auth.cached(header)?.id, key.id);
  assert.equal(auth.cached(`Bearer ${secret}`), null, 'only the exact header that was checked');
  assert.equal(auth.cached(`${header}x`), null);
  await auth.authenticate(`api-key   ${secret}`);
  assert.equal(auth.cached(`api-key   ${secret}`), null, 'other spellings are checked, never remembered');

  const authorize = inferenceAuthorizer(auth);
  const model = { id: 'm1', name: 'one' } as Model;
  assert.equal(authorize(header, '', model), undefined, 'allowed at once, no promise');
  assert.throws(
    () => authorize(header, '', { id: 'm2', name: 'two' } as Model),
    (e: unknown) => e instanceof PlinthError && e.code === 'FORBIDDEN',
  );
  const first = authorize(`Bearer ${secret}`, '', model);
  assert.ok(first instanceof Promise, 'a header not seen yet is checked against the store');
  await first;

  auth.expireCached();
  assert.equal(auth.cached(header), null, 'due for a recheck');
  await auth.authenticate(header);
  assert.equal(auth.cached(header)?.id, key.id, 'rechecked and remembered again');
  auth.forgetCached();
  assert.equal(auth.cached(header), null);
  await auth.authenticate(header);
  await auth.revoke(key.id);
  assert.equal(auth.cached(header), null, 'a revoked key is not answered from memory');
  await assert.rejects(Promise.resolve(authorize(header, '', model)), /invalid or revoked/);
});

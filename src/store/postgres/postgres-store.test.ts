import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runStoreSuite } from '../store-suite.ts';
import type { Store } from '../store.ts';
import { openPostgresStore } from './open.ts';
import { createTestDatabase } from './test-database.ts';

/** A store on a database of its own, dropped when the store closes. */
async function freshStore(): Promise<Store> {
  const database = await createTestDatabase();
  const store = await openPostgresStore(database.url);
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await database.drop();
  };
  return store;
}

runStoreSuite('postgres', freshStore);

test('two processes opening one PostgreSQL store at once both migrate it safely and see the same data', async () => {
  const database = await createTestDatabase();
  try {
    const [a, b] = await Promise.all([openPostgresStore(database.url), openPostgresStore(database.url)]);
    const model = await a.createModel('shared');
    assert.deepEqual(await b.getModel('shared'), model);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await database.drop();
  }
});

test('a PostgreSQL URL that cannot be reached is an error naming it, without its password', async () => {
  await assert.rejects(openPostgresStore('postgres://plinth:secret@127.0.0.1:1/nope'), (err: Error) => {
    assert.match(
      err.message,
      /^cannot reach the PostgreSQL store at postgres:\/\/plinth:\*\*\*@127\.0\.0\.1:1\/nope: connect ECONNREFUSED/,
    );
    assert.doesNotMatch(err.message, /secret/);
    return true;
  });
});

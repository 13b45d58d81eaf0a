import { sleep } from '../../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { runStoreSuite } from '../store-suite.ts';
import type { Store } from '../store.ts';
import { openPostgresStore } from './open.ts';
import { createTestDatabase, TEST_POSTGRES_URL } from '../../../test/support/postgres-database.ts';

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

test('a connection the server drops in the middle of a transaction fails that transaction, not the process', async () => {
  const database = await createTestDatabase();
  const store = await openPostgresStore(database.url);
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  try {
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.createModel('cut');
        // The server goes away under the connection the transaction holds (a restart, a network cut).
        await admin.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [new URL(database.url).pathname.slice(1)],
        );
        await sleep(200);
        await tx.getModel('cut');
      }),
    );
    assert.equal(await store.getModel('cut'), undefined, 'nothing of the transaction landed');
    assert.ok(await store.createModel('after'), 'the store works again on a new connection');
  } finally {
    await admin.end();
    await store.close();
    await database.drop();
  }
});

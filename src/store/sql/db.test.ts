// Transactions over a real SQLite database: the error the work threw is the one its caller sees,
// even when SQLite has already rolled the transaction back itself (as it does on a full disk).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { inTransaction, isPostgres } from './db.ts';
import type { Db } from './db.ts';

test("the work's own error is thrown when SQLite has rolled the transaction back already", async () => {
  const db = new Kysely({ dialect: new SqliteDialect({ database: new SqliteDatabase(':memory:') }) }) as Db;
  try {
    await assert.rejects(
      inTransaction(db, async (tx) => {
        // What SQLITE_FULL does: the transaction is gone before Kysely's own rollback.
        await sql`rollback`.execute(tx);
        throw new Error('database or disk is full');
      }),
      /database or disk is full/,
    );
    // A commit SQLite refuses, having rolled back itself: its own error, not the rollback's.
    await assert.rejects(
      inTransaction(db, async (tx) => {
        await sql`rollback`.execute(tx);
        return 'uncommittable';
      }),
      (err: Error) => /cannot commit - no transaction is active/.test(err.message),
    );
    // And a transaction that commits still commits.
    const model = await inTransaction(db, async (tx) => {
      await sql`select 1`.execute(tx);
      return 'done';
    });
    assert.equal(model, 'done');
  } finally {
    await db.destroy();
  }
});

test('a SQLite database, and a transaction in it, is not PostgreSQL (no row locks to take)', async () => {
  const db = new Kysely({ dialect: new SqliteDialect({ database: new SqliteDatabase(':memory:') }) }) as Db;
  try {
    assert.equal(isPostgres(db), false);
    assert.equal(await inTransaction(db, async (tx) => isPostgres(tx)), false);
  } finally {
    await db.destroy();
  }
});

// What every table module shares: the database handle (a transaction is one too), running work in
// one transaction, the time written into rows, which database it is, and recognising a unique-key
// violation.
import { PostgresAdapter } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

export type Db = Kysely<Database>;

/**
 * Runs `fn` in a transaction: the one `db` is already in, or a new one. What failed — the work or
 * its commit — is the error thrown: SQLite rolls a transaction back by itself when a write or the
 * commit meets a full disk (SQLITE_FULL), so the rollback that follows fails ("no transaction is
 * active") and, thrown instead, hid why (a full disk answered 500 INTERNAL rather than 507).
 */
export async function inTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  const trx = await db.startTransaction().execute();
  try {
    const result = await fn(trx);
    await trx.commit().execute();
    return result;
  } catch (error) {
    // The connection is released whether or not the rollback succeeds.
    await trx
      .rollback()
      .execute()
      .catch(() => {});
    throw error;
  }
}

export const now = (): string => new Date().toISOString();

/** Whether a write failed on a unique key (SQLite and PostgreSQL word it differently). */
export function isUniqueViolation(err: unknown): boolean {
  return /unique|duplicate/i.test(String(err));
}

/** Whether `db` (or the transaction it is) is PostgreSQL: row locks (`FOR UPDATE SKIP LOCKED`) exist only there. */
export function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

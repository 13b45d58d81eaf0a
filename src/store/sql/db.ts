// What every table module shares: the database handle (a transaction is one too), running work in
// one transaction, the time written into rows, and recognising a unique-key violation.
import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

export type Db = Kysely<Database>;

/**
 * Runs `fn` in a transaction: the one `db` is already in, or a new one. When `fn` fails, its
 * error is the one thrown: SQLite rolls a transaction back by itself when a statement meets a full
 * disk (SQLITE_FULL), so the rollback that follows fails ("no transaction is active") and would
 * otherwise hide why — a full disk answered 500 INTERNAL instead of 507.
 */
export async function inTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  let failed: { error: unknown } | null = null;
  try {
    return await db.transaction().execute(async (tx) => {
      try {
        return await fn(tx);
      } catch (error) {
        failed = { error };
        throw error;
      }
    });
  } catch (err) {
    const cause = failed as { error: unknown } | null;
    throw cause !== null ? cause.error : err;
  }
}

export const now = (): string => new Date().toISOString();

/** Whether a write failed on a unique key (SQLite and PostgreSQL word it differently). */
export function isUniqueViolation(err: unknown): boolean {
  return /unique|duplicate/i.test(String(err));
}

// What every table module shares: the database handle (a transaction is one too), running work in
// one transaction, the time written into rows, and recognising a unique-key violation.
import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

export type Db = Kysely<Database>;

/** Runs `fn` in a transaction: the one `db` is already in, or a new one. */
export function inTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

export const now = (): string => new Date().toISOString();

/** Whether a write failed on a unique key (SQLite and PostgreSQL word it differently). */
export function isUniqueViolation(err: unknown): boolean {
  return /unique|duplicate/i.test(String(err));
}

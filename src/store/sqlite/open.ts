// Opens (and migrates) the SQLite store: one file in the Plinth home, WAL mode, foreign keys on.
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateToLatest } from '../migrations.ts';
import type { Database as Tables } from '../schema.ts';
import { sqlStore } from '../sql-store.ts';
import type { Store } from '../store.ts';

/** `file` is a path, or ':memory:' for tests. */
export async function openSqliteStore(file: string): Promise<Store> {
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrateToLatest(db as Kysely<unknown>, 'sqlite');
  return sqlStore(db);
}

// Opens (and migrates) the PostgreSQL store: `plinth up --store postgres://…`, for a team whose
// control planes and gateways share one database. The same SqlStore as SQLite; only the
// connection differs. 64-bit integers (ids, metric bucket times) are read as numbers.
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { PlinthError } from '../../domain/errors.ts';
import { migrateToLatest } from '../migrations.ts';
import type { Database as Tables } from '../schema.ts';
import { sqlStore } from '../sql-store.ts';
import type { Store } from '../store.ts';
import { announcingChanges, CHANNEL } from './change-feed.ts';

const INT8 = 20;

/** A connection pool whose bigint columns come back as numbers (they stay below 2^53 here). */
export function postgresPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // An unreachable server is an error in seconds, not a hang (callers keep what they had).
    connectionTimeoutMillis: 3000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8
          ? (v: string) => Number(v)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection the server closed is replaced on the next query; it must not crash the process.
  pool.on('error', (err) => console.error(`postgres: ${err.message}`));
  // Nor may one that is checked out (a transaction between two queries): its error reaches its
  // query, and the connection itself only says so here. (Without this listener the 'error' event
  // of a checked-out client is unhandled and ends the process: the store-outage test's rare crash.)
  pool.on('connect', (client) => {
    client.on('error', (err) => console.error(`postgres: a connection in use failed: ${err.message}`));
  });
  return pool;
}

export async function openPostgresStore(url: string): Promise<Store> {
  const pool = postgresPool(url);
  // Reachable first, so that a wrong host, port or password is named as such, not as a migration.
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new PlinthError(
      'STORE_UNAVAILABLE',
      `cannot reach the PostgreSQL store at ${redact(url)}: ${(err as Error).message}`,
    );
  }
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateToLatest(db as Kysely<unknown>, 'postgres');
  } catch (err) {
    await db.destroy();
    throw new PlinthError(
      'STORE_UNAVAILABLE',
      `cannot open the PostgreSQL store at ${redact(url)}: ${(err as Error).message}`,
    );
  }
  // Other processes on this store (gateways, control planes) learn of each write at once.
  return announcingChanges(sqlStore(db), async (topic) => {
    await sql`select pg_notify(${CHANNEL}, ${topic})`.execute(db);
  });
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the given URL';
  }
}

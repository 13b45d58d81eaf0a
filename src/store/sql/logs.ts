// The logs table: build, replica and platform lines per deployment, searched and pruned.
import { sql } from 'kysely';
import type { LogLevel, LogRecord, LogSource, NewLogRecord } from '../../domain/types.ts';
import type { LogQuery } from '../store.ts';
import { columnMap, plain, num, same } from './column-map.ts';
import type { LogsTable } from '../schema.ts';
import type { Db } from './db.ts';

const columns = columnMap<LogRecord, LogsTable>({
  ...plain('time', 'model_id', 'deployment_id', 'replica_id', 'message', 'request_id'),
  id: num('id'),
  source: same<LogSource>('source'),
  level: same<LogLevel>('level'),
});

export async function appendLogs(db: Db, records: readonly NewLogRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db
    .insertInto('logs')
    .values([...records])
    .execute();
}

export async function queryLogs(db: Db, query: LogQuery): Promise<LogRecord[]> {
  let q = db.selectFrom('logs').selectAll();
  if (query.model_id) q = q.where('model_id', '=', query.model_id);
  if (query.deployment_id) q = q.where('deployment_id', '=', query.deployment_id);
  if (query.replica_id) q = q.where('replica_id', '=', query.replica_id);
  if (query.after_id !== undefined) q = q.where('id', '>', query.after_id);
  if (query.since) q = q.where('time', '>=', query.since);
  if (query.until) q = q.where('time', '<=', query.until);
  if (query.levels) q = q.where('level', 'in', [...query.levels]);
  if (query.request_id) q = q.where('request_id', '=', query.request_id);
  if (query.search) {
    const pattern = `%${query.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // lower() on both sides: SQLite's like ignores case and PostgreSQL's does not.
    q = q.where(sql<boolean>`lower(message) like lower(${pattern}) escape '\\'`);
  }
  const rows = await q
    .orderBy('id', query.newest ? 'desc' : 'asc')
    .limit(query.limit ?? 1000)
    .execute();
  if (query.newest) rows.reverse();
  return rows.map((r) => columns.fromRow(r));
}

/** Deletes log records older than `before` (ISO time), then all but the newest `keep`. */
export async function pruneLogs(db: Db, options: { before?: string; keep?: number }): Promise<number> {
  let removed = 0;
  if (options.before) {
    const r = await db.deleteFrom('logs').where('time', '<', options.before).executeTakeFirst();
    removed += Number(r.numDeletedRows);
  }
  if (options.keep !== undefined) {
    const cutoff = await db
      .selectFrom('logs')
      .select('id')
      .orderBy('id', 'desc')
      .offset(options.keep)
      .limit(1)
      .executeTakeFirst();
    if (cutoff) {
      const r = await db.deleteFrom('logs').where('id', '<=', cutoff.id).executeTakeFirst();
      removed += Number(r.numDeletedRows);
    }
  }
  return removed;
}

// The metric_buckets table: one time bucket of a metric series per scope, resolution and start.
import { sql } from 'kysely';
import type { MetricBucketsTable } from '../schema.ts';
import type { MetricBucket } from '../store.ts';
import { columnMap, json, num, same } from './column-map.ts';
import type { Db } from './db.ts';

const columns = columnMap<MetricBucket, MetricBucketsTable>({
  scope: same('scope'),
  resolution_s: num('resolution_s'),
  start_ms: num('start_ms'),
  data: json<unknown>('data_json'),
});

/** Writes buckets, replacing any with the same scope, resolution and start. */
export async function saveMetricBuckets(db: Db, buckets: readonly MetricBucket[]): Promise<void> {
  if (buckets.length === 0) return;
  await db
    .insertInto('metric_buckets')
    .values(buckets.map((b) => ({ ...columns.toRow(b), base_scope: baseScope(b.scope) })))
    .onConflict((oc) =>
      oc
        .columns(['scope', 'resolution_s', 'start_ms'])
        .doUpdateSet((eb) => ({ data_json: eb.ref('excluded.data_json') })),
    )
    .execute();
}

export async function queryMetricBuckets(
  db: Db,
  query: { scope: string; resolution_s: number; from_ms: number; to_ms: number },
): Promise<MetricBucket[]> {
  // The scope as written by each process that records it: `scope`, and `scope@<source>` (a gateway),
  // found by its base (an index); rows an older Plinth wrote without a base, by name.
  const sources = `${query.scope.replace(/[\\%_]/g, (c) => `\\${c}`)}@%`;
  const inRange = db
    .selectFrom('metric_buckets')
    .select(['scope', 'resolution_s', 'start_ms', 'data_json'])
    .where('resolution_s', '=', query.resolution_s)
    .where('start_ms', '>=', query.from_ms)
    .where('start_ms', '<', query.to_ms);
  const [based, older] = await Promise.all([
    inRange.where('base_scope', '=', query.scope).execute(),
    inRange
      .where('base_scope', 'is', null)
      .where((eb) => eb.or([eb('scope', '=', query.scope), sql<boolean>`scope like ${sources} escape '\\'`]))
      .execute(),
  ]);
  return [...based, ...older]
    .sort((a, b) => Number(a.start_ms) - Number(b.start_ms))
    .map((r) => columns.fromRow(r));
}

/** A scope without its writer: `deployment:d1@gw-1` → `deployment:d1` (no scope Plinth names holds an "@"). */
function baseScope(scope: string): string {
  return scope.split('@')[0]!;
}

/** Deletes buckets of a resolution that started before `before_ms`. */
export async function pruneMetricBuckets(db: Db, resolution_s: number, before_ms: number): Promise<number> {
  const r = await db
    .deleteFrom('metric_buckets')
    .where('resolution_s', '=', resolution_s)
    .where('start_ms', '<', before_ms)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

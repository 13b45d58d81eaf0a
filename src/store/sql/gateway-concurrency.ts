// The gateway_concurrency table: what each gateway process last counted per deployment, so that
// the leading control plane scales on the sum of every gateway.
import type { ConcurrencyReport } from '../store.ts';
import { columnMap, num, plain } from './column-map.ts';
import type { GatewayConcurrencyTable } from '../schema.ts';
import type { Db } from './db.ts';

const columns = columnMap<ConcurrencyReport, GatewayConcurrencyTable>({
  ...plain('gateway_id', 'deployment_id'),
  concurrency: num('concurrency'),
  reported_ms: num('reported_ms'),
});

/** Replaces what one gateway reported per deployment. */
export async function reportConcurrency(db: Db, reports: readonly ConcurrencyReport[]): Promise<void> {
  if (reports.length === 0) return;
  await db
    .insertInto('gateway_concurrency')
    .values([...reports])
    .onConflict((oc) =>
      oc.columns(['gateway_id', 'deployment_id']).doUpdateSet((eb) => ({
        concurrency: eb.ref('excluded.concurrency'),
        reported_ms: eb.ref('excluded.reported_ms'),
      })),
    )
    .execute();
}

/** Reports made at or after `since_ms`; older ones are removed. */
export async function listConcurrency(db: Db, since_ms: number): Promise<ConcurrencyReport[]> {
  await db.deleteFrom('gateway_concurrency').where('reported_ms', '<', since_ms).execute();
  const rows = await db.selectFrom('gateway_concurrency').selectAll().execute();
  return rows.map((r) => columns.fromRow(r));
}

// When each deployment last answered an inference request (deployments.last_request_ms), written
// by the gateways every few seconds and read by the inactivity check; kept across restarts.
import type { TrafficTime } from '../store.ts';
import { inTransaction } from './db.ts';
import type { Db } from './db.ts';

/** Notes the times; a deployment's time never moves back, and a deleted deployment's is dropped. */
export async function recordTraffic(db: Db, times: readonly TrafficTime[]): Promise<void> {
  if (times.length === 0) return;
  await inTransaction(db, async (tx) => {
    for (const t of times) {
      await tx
        .updateTable('deployments')
        .set({ last_request_ms: t.last_request_ms })
        .where('id', '=', t.deployment_id)
        .where((eb) =>
          eb.or([eb('last_request_ms', 'is', null), eb('last_request_ms', '<', t.last_request_ms)]),
        )
        .execute();
    }
  });
}

/** The last request time of every deployment that has answered one. */
export async function lastTraffic(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('deployments')
    .select(['id', 'last_request_ms'])
    .where('last_request_ms', 'is not', null)
    .execute();
  return new Map(rows.map((r) => [r.id, Number(r.last_request_ms)]));
}

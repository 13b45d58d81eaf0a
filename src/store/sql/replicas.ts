// The replicas table: the replicas a control plane started, as last seen (routes for gateways
// that run none, the API's replica lists, adoption after a restart).
import type { ReplicaRecord, ReplicaStatus } from '../../domain/types.ts';
import type { ReplicasTable } from '../schema.ts';
import { columnMap, plain, num, same } from './column-map.ts';
import type { Db } from './db.ts';

const columns = columnMap<ReplicaRecord, ReplicasTable>({
  ...plain('id', 'deployment_id', 'address', 'started_at', 'stopped_at', 'exit_reason'),
  status: same<ReplicaStatus>('status'),
  revision: num('revision'),
  token: same<string | null | undefined>('token'),
});

export async function upsertReplica(db: Db, replica: ReplicaRecord): Promise<void> {
  const row = columns.toRow(replica);
  const { id: _id, deployment_id: _deployment, started_at: _started, ...changing } = row;
  await db
    .insertInto('replicas')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet(changing))
    .execute();
}

export async function listReplicas(
  db: Db,
  filter: { deployment_id?: string; live?: boolean } = {},
): Promise<ReplicaRecord[]> {
  let q = db.selectFrom('replicas').selectAll();
  if (filter.deployment_id) q = q.where('deployment_id', '=', filter.deployment_id);
  if (filter.live) q = q.where('status', 'in', ['STARTING', 'READY', 'DRAINING']);
  const rows = await q.orderBy('started_at').orderBy('id').execute();
  return rows.map((r) => columns.fromRow(r));
}

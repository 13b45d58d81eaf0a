// The events table: every status change of a deployment (time, from, to, reason), oldest first.
import type { DeploymentStatus } from '../../domain/deployment-status.ts';
import type { DeploymentEvent } from '../../domain/types.ts';
import { columnMap, plain, num, same } from './column-map.ts';
import type { EventsTable } from '../schema.ts';
import type { Db } from './db.ts';

const columns = columnMap<DeploymentEvent, EventsTable>({
  ...plain('model_id', 'deployment_id', 'time', 'reason'),
  id: num('id'),
  from_status: same<DeploymentStatus | null>('from_status'),
  to_status: same<DeploymentStatus>('to_status'),
});

export async function recordEvent(db: Db, event: Omit<DeploymentEvent, 'id'>): Promise<DeploymentEvent> {
  const row = await db.insertInto('events').values(event).returningAll().executeTakeFirstOrThrow();
  return columns.fromRow(row);
}

export async function listEvents(db: Db, deploymentId: string): Promise<DeploymentEvent[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('deployment_id', '=', deploymentId)
    .orderBy('id')
    .execute();
  return rows.map((r) => columns.fromRow(r));
}

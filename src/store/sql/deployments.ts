// The deployments table, and the one place a deployment's status changes: a compare-and-set move
// that the state machine's table allows, written with its event in one transaction.
import { sql } from 'kysely';
import type { Updateable } from 'kysely';
import { withAutoscalingDefaults } from '../../domain/autoscaling.ts';
import { canMove, RESTING_STATUSES } from '../../domain/deployment-status.ts';
import type { DeploymentStatus } from '../../domain/deployment-status.ts';
import { PlinthError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { BuildRecord, Deployment, Rollback } from '../../domain/types.ts';
import type { DeploymentsTable } from '../schema.ts';
import type {
  DeploymentFilter,
  DeploymentPatch,
  ModelDeploymentCounts,
  MoveOutcome,
  NewDeployment,
  ReviseOutcome,
  RevisionMove,
  StatusMove,
} from '../store.ts';
import { columnMap, plain, flag, json, nullableJson, num, same } from './column-map.ts';
import type { Db } from './db.ts';
import { inTransaction, isUniqueViolation, now } from './db.ts';
import { recordEvent } from './events.ts';

const columns = columnMap<Deployment, DeploymentsTable>({
  ...plain(
    'id',
    'model_id',
    'name',
    'status_reason',
    'bundle_sha256',
    'instance_type_name',
    'created_at',
    'updated_at',
  ),
  status: same<DeploymentStatus>('status'),
  is_development: flag('is_development'),
  has_served: flag('has_served'),
  config: json('config_json'),
  // Settings added since a row was written take their defaults.
  autoscaling_settings: json('autoscaling_json', withAutoscalingDefaults),
  desired_replicas: num('desired_replicas'),
  revision: num('revision'),
  build: nullableJson<BuildRecord>('build_json'),
  last_revision: num('last_revision'),
  rollback: nullableJson<Rollback>('rollback_json'),
});

const toDeployment = (row: object): Deployment => columns.fromRow(row);

/** The columns a patch writes, with the update time. */
function patchColumns(patch: DeploymentPatch): Updateable<DeploymentsTable> {
  return { ...columns.toPatch(patch), updated_at: now() };
}

function nameTaken(name: string | undefined): (err: unknown) => never {
  return (err) => {
    if (isUniqueViolation(err)) {
      throw new PlinthError('CONFLICT', `a deployment named "${name}" already exists for this model`);
    }
    throw err;
  };
}

export async function createDeployment(db: Db, input: NewDeployment): Promise<Deployment> {
  const time = now();
  const deployment: Deployment = {
    ...input,
    id: input.id ?? newId('d'),
    status_reason: null,
    has_served: false,
    desired_replicas: 0,
    revision: 0,
    build: null,
    last_revision: 0,
    rollback: null,
    created_at: time,
    updated_at: time,
  };
  await db.insertInto('deployments').values(columns.toRow(deployment)).execute().catch(nameTaken(input.name));
  return deployment;
}

export async function getDeployment(db: Db, id: string): Promise<Deployment | undefined> {
  const row = await db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toDeployment(row);
}

export async function listDeployments(db: Db, filter: DeploymentFilter = {}): Promise<Deployment[]> {
  let q = db.selectFrom('deployments').selectAll();
  if (filter.model_id) q = q.where('model_id', '=', filter.model_id);
  if (filter.statuses) {
    if (filter.statuses.length === 0) return [];
    q = q.where('status', 'in', [...filter.statuses]);
  }
  if (filter.unbuilt) q = q.where('build_json', 'is', null);
  if (filter.awake) {
    q = q.where((eb) =>
      eb.or([eb('status', 'not in', [...RESTING_STATUSES]), eb('desired_replicas', '>', 0)]),
    );
  }
  if (filter.ids) {
    if (filter.ids.length === 0) return [];
    q = q.where('id', 'in', [...filter.ids]);
  }
  const rows = await q.orderBy('created_at').orderBy('id').execute();
  return rows.map(toDeployment);
}

export async function listDeploymentStatuses(db: Db): Promise<{ id: string; status: DeploymentStatus }[]> {
  const rows = await db.selectFrom('deployments').select(['id', 'status']).execute();
  return rows.map((r) => ({ id: r.id, status: r.status as DeploymentStatus }));
}

/**
 * Per model (of these, or of every model when `modelIds` is undefined): how many deployments it has
 * and its development deployment, in one query that reads no deployment's config.
 */
export async function countDeployments(
  db: Db,
  modelIds?: readonly string[],
): Promise<Map<string, ModelDeploymentCounts>> {
  if (modelIds?.length === 0) return new Map();
  let q = db
    .selectFrom('deployments')
    .select([
      'model_id',
      sql<number | string>`count(*)`.as('deployments_count'),
      sql<string | null>`max(case when is_development = 1 then id end)`.as('development_deployment_id'),
    ])
    .groupBy('model_id');
  if (modelIds) q = q.where('model_id', 'in', [...modelIds]);
  const rows = await q.execute();
  return new Map(
    rows.map((r) => [
      r.model_id,
      {
        model_id: r.model_id,
        deployments_count: Number(r.deployments_count),
        development_deployment_id: r.development_deployment_id ?? null,
      },
    ]),
  );
}

export async function updateDeployment(db: Db, id: string, patch: DeploymentPatch): Promise<Deployment> {
  const row = await db
    .updateTable('deployments')
    .set(patchColumns(patch))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
    .catch(nameTaken(patch.name));
  if (!row) throw new PlinthError('DEPLOYMENT_NOT_FOUND', `deployment ${id} not found`);
  return toDeployment(row);
}

export async function transition(db: Db, id: string, move: StatusMove): Promise<MoveOutcome> {
  if (!canMove(move.from, move.to)) {
    return { moved: false, refusal: 'ILLEGAL', current: await getDeployment(db, id) };
  }
  return inTransaction(db, async (tx) => {
    const row = await tx
      .updateTable('deployments')
      .set({ ...patchColumns(move.patch ?? {}), status: move.to, status_reason: move.reason })
      .where('id', '=', id)
      .where('status', '=', move.from)
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      const current = await getDeployment(tx, id);
      return { moved: false, refusal: current ? 'STALE' : 'NOT_FOUND', current };
    }
    const deployment = toDeployment(row);
    if (move.from !== move.to) {
      await recordEvent(tx, {
        model_id: deployment.model_id,
        deployment_id: id,
        time: deployment.updated_at,
        from_status: move.from,
        to_status: move.to,
        reason: move.reason,
      });
    }
    return { moved: true, deployment, from: move.from };
  });
}

/**
 * Compare-and-set of the revision: moves the deployment from revision `from` to `to` together
 * with `patch` (its new build, bundle, instance type), or refuses when it is no longer at `from`.
 */
export async function revise(db: Db, id: string, revision: RevisionMove): Promise<ReviseOutcome> {
  const row = await db
    .updateTable('deployments')
    .set({ ...patchColumns(revision.patch ?? {}), revision: revision.to })
    .where('id', '=', id)
    .where('revision', '=', revision.from)
    .returningAll()
    .executeTakeFirst();
  if (row) return { revised: true, deployment: toDeployment(row) };
  return { revised: false, current: await getDeployment(db, id) };
}

/** Deletes a deployment with its replicas, events, logs and async requests; environments that pointed at it point nowhere. */
export function deleteDeployment(db: Db, id: string): Promise<void> {
  return inTransaction(db, async (tx) => {
    await tx
      .updateTable('environments')
      .set({ current_deployment_id: null })
      .where('current_deployment_id', '=', id)
      .execute();
    await tx.deleteFrom('replicas').where('deployment_id', '=', id).execute();
    await tx.deleteFrom('events').where('deployment_id', '=', id).execute();
    await tx.deleteFrom('logs').where('deployment_id', '=', id).execute();
    await tx.deleteFrom('async_requests').where('deployment_id', '=', id).execute();
    await tx.deleteFrom('deployments').where('id', '=', id).execute();
  });
}

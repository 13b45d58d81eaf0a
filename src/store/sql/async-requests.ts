// The async_requests table: the durable queue behind `…/async_predict`. Every change of a request's
// status is one guarded update (a compare-and-set on the status it was read in, and for a claimed
// request on its lease owner), so two control planes sharing PostgreSQL never both run, settle or
// expire one request. A claim picks and marks its rows in one transaction; on PostgreSQL it skips
// rows another claimer holds (FOR UPDATE SKIP LOCKED), on SQLite transactions are serialized.
// Times the queue compares are numbers (ms since epoch), given by the caller (`now_ms`); the ISO
// times (created_at, started_at, finished_at) are the store's own clock, for the record.
import { sql } from 'kysely';
import type { Selectable, Updateable } from 'kysely';
import { FINAL_ASYNC_STATUSES } from '../../domain/async-requests.ts';
import type {
  AsyncError,
  AsyncRequest,
  AsyncStatus,
  NewAsyncRequest,
  RetryConfig,
  WebhookStatus,
} from '../../domain/async-requests.ts';
import { newId } from '../../domain/ids.ts';
import type { AsyncRequestsTable } from '../schema.ts';
import type { AsyncOutcome } from '../store.ts';
import { columnMap, json, nullableNum, num, plain, same } from './column-map.ts';
import type { Db } from './db.ts';
import { inTransaction, isPostgres, now } from './db.ts';

/** How many errors a request keeps (the latest). */
export const MAX_ASYNC_ERRORS = 10;

/** The columns a request's fields map to (seq and created_ms are the table's own). */
type MappedColumns = Omit<AsyncRequestsTable, 'seq' | 'created_ms'>;

const columns = columnMap<AsyncRequest, MappedColumns>({
  ...plain(
    'id',
    'model_id',
    'deployment_id',
    'environment',
    'input_json',
    'webhook_endpoint',
    'created_at',
    'started_at',
    'finished_at',
    'lease_owner',
    'output_json',
  ),
  priority: num('priority'),
  status: same<AsyncStatus>('status'),
  max_time_in_queue_s: num('max_time_in_queue_s'),
  retry: json<RetryConfig>('retry_json'),
  attempts: num('attempts'),
  errors: json<AsyncError[]>('errors_json'),
  not_before_ms: num('not_before_ms'),
  lease_until_ms: nullableNum('lease_until_ms'),
  output_expires_ms: nullableNum('output_expires_ms'),
  webhook_status: same<WebhookStatus | null>('webhook_status'),
  webhook_attempts: num('webhook_attempts'),
  webhook_next_ms: nullableNum('webhook_next_ms'),
});

const toAsync = (row: object): AsyncRequest => columns.fromRow(row);

/** Rows in queue order (an update's RETURNING keeps none). */
function inQueueOrder(rows: Selectable<AsyncRequestsTable>[]): AsyncRequest[] {
  return rows
    .sort((a, b) => Number(a.priority) - Number(b.priority) || Number(a.seq) - Number(b.seq))
    .map(toAsync);
}

/** The webhook columns of a request that just became final: a delivery is due now if it has a webhook. */
const webhookDue = (now_ms: number) => ({
  webhook_status: sql<string | null>`case when webhook_endpoint is null then null else 'PENDING' end`,
  webhook_next_ms: sql<
    number | null
  >`case when webhook_endpoint is null then null else cast(${now_ms} as bigint) end`,
});

/** Never claimed, and waited in the queue past its max_time_in_queue_s at `now_ms`. */
const pastQueueDeadline = (now_ms: number) =>
  sql<boolean>`started_at is null and created_ms + max_time_in_queue_s * 1000 <= ${now_ms}`;

export async function enqueueAsync(db: Db, input: NewAsyncRequest): Promise<AsyncRequest> {
  const created_at = now();
  const created_ms = Date.parse(created_at);
  const request: AsyncRequest = {
    ...input,
    id: newId('a', 20),
    status: 'QUEUED',
    attempts: 0,
    errors: [],
    created_at,
    started_at: null,
    finished_at: null,
    not_before_ms: created_ms,
    lease_owner: null,
    lease_until_ms: null,
    output_json: null,
    output_expires_ms: null,
    webhook_status: null,
    webhook_attempts: 0,
    webhook_next_ms: null,
  };
  await db
    .insertInto('async_requests')
    .values({ ...columns.toRow(request), created_ms })
    .execute();
  return request;
}

export async function getAsync(db: Db, id: string): Promise<AsyncRequest | undefined> {
  const row = await db.selectFrom('async_requests').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toAsync(row);
}

export function claimAsync(
  db: Db,
  input: { deployment_id: string; owner: string; now_ms: number; lease_ms: number; limit: number },
): Promise<AsyncRequest[]> {
  return inTransaction(db, async (tx) => {
    if (input.limit <= 0) return [];
    let pick = tx
      .selectFrom('async_requests')
      .select('id')
      .where('deployment_id', '=', input.deployment_id)
      .where('status', '=', 'QUEUED')
      .where('not_before_ms', '<=', input.now_ms)
      .where(sql<boolean>`not (${pastQueueDeadline(input.now_ms)})`)
      .orderBy('priority')
      .orderBy('seq')
      .limit(input.limit);
    if (isPostgres(tx)) pick = pick.forUpdate().skipLocked();
    const ids = (await pick.execute()).map((r) => r.id);
    if (ids.length === 0) return [];
    const at = now();
    const rows = await tx
      .updateTable('async_requests')
      .set((eb) => ({
        status: 'IN_PROGRESS',
        attempts: eb('attempts', '+', 1),
        started_at: eb.fn.coalesce('started_at', eb.val(at)),
        lease_owner: input.owner,
        lease_until_ms: input.now_ms + input.lease_ms,
      }))
      .where('id', 'in', ids)
      .where('status', '=', 'QUEUED')
      .returningAll()
      .execute();
    return inQueueOrder(rows);
  });
}

export async function renewAsyncLeases(
  db: Db,
  input: { ids: readonly string[]; owner: string; until_ms: number },
): Promise<string[]> {
  if (input.ids.length === 0) return [];
  const rows = await db
    .updateTable('async_requests')
    .set({ lease_until_ms: input.until_ms })
    .where('id', 'in', [...input.ids])
    .where('status', '=', 'IN_PROGRESS')
    .where('lease_owner', '=', input.owner)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

export function settleAsync(
  db: Db,
  id: string,
  owner: string,
  outcome: AsyncOutcome,
): Promise<AsyncRequest | undefined> {
  return inTransaction(db, async (tx) => {
    let read = tx
      .selectFrom('async_requests')
      .selectAll()
      .where('id', '=', id)
      .where('status', '=', 'IN_PROGRESS')
      .where('lease_owner', '=', owner);
    if (isPostgres(tx)) read = read.forUpdate();
    const held = await read.executeTakeFirst();
    if (!held) return undefined;
    const errors = toAsync(held).errors;
    if ('error' in outcome) errors.push(outcome.error);
    const now_ms = Date.now();
    const patch: Updateable<MappedColumns> = {
      ...columns.toPatch({ status: outcome.to, errors: errors.slice(-MAX_ASYNC_ERRORS) }),
      lease_owner: null,
      lease_until_ms: null,
    };
    const done =
      outcome.to === 'QUEUED'
        ? { not_before_ms: outcome.not_before_ms }
        : {
            finished_at: now(),
            ...webhookDue(now_ms),
            ...(outcome.to === 'SUCCEEDED'
              ? { output_json: outcome.output_json, output_expires_ms: outcome.output_expires_ms }
              : {}),
          };
    const row = await tx
      .updateTable('async_requests')
      .set({ ...patch, ...done })
      .where('id', '=', id)
      .where('status', '=', 'IN_PROGRESS')
      .where('lease_owner', '=', owner)
      .returningAll()
      .executeTakeFirst();
    return row && toAsync(row);
  });
}

export async function cancelAsync(db: Db, id: string): Promise<AsyncRequest | undefined> {
  const row = await db
    .updateTable('async_requests')
    .set({ status: 'CANCELED', finished_at: now(), ...webhookDue(Date.now()) })
    .where('id', '=', id)
    .where('status', '=', 'QUEUED')
    .returningAll()
    .executeTakeFirst();
  return row && toAsync(row);
}

/**
 * QUEUED requests never claimed whose time in the queue ran out → EXPIRED. A request that has
 * run once and waits for a retry is not expired: max_time_in_queue_s bounds the wait to start.
 */
export async function expireAsync(db: Db, now_ms: number): Promise<string[]> {
  // Only the ids come back: a large backlog expiring at once would otherwise bring every input.
  const rows = await db
    .updateTable('async_requests')
    .set({ status: 'EXPIRED', finished_at: now(), ...webhookDue(now_ms) })
    .where('status', '=', 'QUEUED')
    .where(pastQueueDeadline(now_ms))
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/**
 * IN_PROGRESS requests whose lease ended (their holder died) → QUEUED, except those `owner` (the
 * caller) holds itself. The attempt a crash cut off is not counted: a request runs at least once
 * more after it, so a crash never leaves one run zero times.
 */
export async function reclaimAsyncLeases(db: Db, now_ms: number, owner?: string): Promise<number> {
  let update = db
    .updateTable('async_requests')
    .set({
      status: 'QUEUED',
      lease_owner: null,
      lease_until_ms: null,
      attempts: sql<number>`case when attempts > 0 then attempts - 1 else 0 end`,
    })
    .where('status', '=', 'IN_PROGRESS')
    .where('lease_until_ms', '<', now_ms);
  if (owner !== undefined) update = update.where('lease_owner', '!=', owner);
  const r = await update.executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export async function asyncQueueStatus(
  db: Db,
  deployment_id: string,
): Promise<{ num_queued_requests: number; num_in_progress_requests: number }> {
  const rows = await db
    .selectFrom('async_requests')
    .select((eb) => ['status', eb.fn.countAll().as('n')])
    .where('deployment_id', '=', deployment_id)
    .where('status', 'in', ['QUEUED', 'IN_PROGRESS'])
    .groupBy('status')
    .execute();
  const count = (status: AsyncStatus) => Number(rows.find((r) => r.status === status)?.n ?? 0);
  return { num_queued_requests: count('QUEUED'), num_in_progress_requests: count('IN_PROGRESS') };
}

/** Deployments with requests QUEUED and ready to run at `now_ms` (not waiting out a retry's backoff). */
export async function asyncQueuedByDeployment(db: Db, now_ms: number): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('async_requests')
    .select((eb) => ['deployment_id', eb.fn.countAll().as('n')])
    .where('status', '=', 'QUEUED')
    .where('not_before_ms', '<=', now_ms)
    .groupBy('deployment_id')
    .execute();
  return new Map(rows.map((r) => [r.deployment_id, Number(r.n)]));
}

export async function listWebhooksDue(db: Db, now_ms: number, limit: number): Promise<AsyncRequest[]> {
  const rows = await db
    .selectFrom('async_requests')
    .selectAll()
    .where('webhook_status', '=', 'PENDING')
    .where('webhook_next_ms', '<=', now_ms)
    .orderBy('webhook_next_ms')
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(toAsync);
}

/**
 * Records a delivery try. FAILED (given up) also makes a request the model answered (SUCCEEDED or
 * FAILED) WEBHOOK_FAILED — its output and errors stay; an EXPIRED one stays EXPIRED (the model never
 * ran), its webhook_status saying the notice was not delivered.
 */
export async function recordWebhook(
  db: Db,
  id: string,
  outcome: { status: WebhookStatus; next_ms: number | null },
): Promise<void> {
  await db
    .updateTable('async_requests')
    .set((eb) => ({
      webhook_status: outcome.status,
      webhook_next_ms: outcome.status === 'PENDING' ? outcome.next_ms : null,
      webhook_attempts: eb('webhook_attempts', '+', 1),
      ...(outcome.status === 'FAILED'
        ? {
            status: sql<string>`case when status in ('SUCCEEDED', 'FAILED') then 'WEBHOOK_FAILED' else status end`,
          }
        : {}),
    }))
    .where('id', '=', id)
    .where('webhook_status', '=', 'PENDING')
    .execute();
}

/**
 * Clears outputs whose retention ended, and deletes final requests that finished before `before`
 * (not those whose webhook is still being delivered); answers how many requests it cleared or deleted.
 */
export function pruneAsync(db: Db, input: { now_ms: number; before: string }): Promise<number> {
  return inTransaction(db, async (tx) => {
    // An output whose webhook is still being delivered stays until it is (the tries take hours).
    const cleared = await tx
      .updateTable('async_requests')
      .set({ output_json: null, output_expires_ms: null })
      .where('output_expires_ms', '<=', input.now_ms)
      .where((eb) => eb.or([eb('webhook_status', 'is', null), eb('webhook_status', '!=', 'PENDING')]))
      .executeTakeFirst();
    const deleted = await tx
      .deleteFrom('async_requests')
      .where('status', 'in', [...FINAL_ASYNC_STATUSES])
      .where('finished_at', '<', input.before)
      .where((eb) => eb.or([eb('webhook_status', 'is', null), eb('webhook_status', '!=', 'PENDING')]))
      .executeTakeFirst();
    return Number(cleared.numUpdatedRows) + Number(deleted.numDeletedRows);
  });
}

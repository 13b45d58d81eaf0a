// The promotions table: each move of an environment to a new deployment, newest first.
import { PlinthError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type {
  CleanupStrategy,
  Promotion,
  PromotionActionRecord,
  PromotionPhase,
  PromotionStatus,
  RollingState,
} from '../../domain/types.ts';
import type { PromotionsTable } from '../schema.ts';
import type { PromotionPatch } from '../store.ts';
import { columnMap, json, nullableJson, plain, num, same } from './column-map.ts';
import type { Db } from './db.ts';

const columns = columnMap<Promotion, PromotionsTable>({
  ...plain(
    'id',
    'model_id',
    'environment_id',
    'environment_name',
    'from_deployment_id',
    'to_deployment_id',
    'requested_by',
    'reason',
    'started_at',
    'ramp_started_at',
    'finished_at',
    'paused_at',
  ),
  status: same<PromotionStatus>('status'),
  phase: same<PromotionPhase>('phase'),
  traffic_percent: num('traffic_percent'),
  cleanup_strategy: same<CleanupStrategy>('cleanup_strategy'),
  ramp_up_duration_seconds: num('ramp_up_duration_seconds'),
  replicas_needed: num('replicas_needed'),
  rolling: nullableJson<RollingState>('rolling_json'),
  actions: json<PromotionActionRecord[]>('actions_json'),
});

const toPromotion = (row: object): Promotion => columns.fromRow(row);

export async function createPromotion(db: Db, promotion: Omit<Promotion, 'id'>): Promise<Promotion> {
  const created: Promotion = { id: newId('p'), ...promotion };
  await db.insertInto('promotions').values(columns.toRow(created)).execute();
  return created;
}

export async function updatePromotion(db: Db, id: string, patch: PromotionPatch): Promise<Promotion> {
  const row = await db
    .updateTable('promotions')
    .set(columns.toPatch(patch))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new PlinthError('NOT_FOUND', `promotion ${id} not found`);
  return toPromotion(row);
}

export async function listPromotions(
  db: Db,
  filter: { environment_id?: string; status?: PromotionStatus },
): Promise<Promotion[]> {
  let q = db.selectFrom('promotions').selectAll();
  if (filter.environment_id) q = q.where('environment_id', '=', filter.environment_id);
  if (filter.status) q = q.where('status', '=', filter.status);
  const rows = await q.orderBy('started_at', 'desc').orderBy('id', 'desc').execute();
  return rows.map(toPromotion);
}

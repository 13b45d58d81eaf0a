// The environments table: a model's stable endpoints, each pointing at the deployment it serves.
import {
  DEFAULT_AUTOSCALING,
  DEFAULT_PROMOTION_SETTINGS,
  withAutoscalingDefaults,
} from '../../domain/autoscaling.ts';
import type { AutoscalingSettings } from '../../domain/autoscaling.ts';
import { PlinthError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { Environment, PromotionSettings } from '../../domain/types.ts';
import type { EnvironmentsTable } from '../schema.ts';
import type { EnvironmentPatch } from '../store.ts';
import { columnMap, flag, json, plain } from './column-map.ts';
import type { Db } from './db.ts';
import { isUniqueViolation, now } from './db.ts';

const columns = columnMap<Environment, EnvironmentsTable>({
  ...plain('id', 'model_id', 'name', 'current_deployment_id', 'instance_type_name', 'created_at'),
  // Settings added since a row was written take their defaults.
  autoscaling_settings: json<AutoscalingSettings>('autoscaling_json', withAutoscalingDefaults),
  promotion_settings: json<PromotionSettings>('promotion_json', (stored) => ({
    ...DEFAULT_PROMOTION_SETTINGS,
    ...stored,
    rolling_deploy_config: {
      ...DEFAULT_PROMOTION_SETTINGS.rolling_deploy_config,
      ...stored.rolling_deploy_config,
    },
  })),
  public: flag('is_public'),
  is_active: flag('is_active'),
});

const toEnvironment = (row: object): Environment => columns.fromRow(row);

export async function listEnvironments(db: Db, modelId: string): Promise<Environment[]> {
  const rows = await db
    .selectFrom('environments')
    .selectAll()
    .where('model_id', '=', modelId)
    .orderBy('created_at')
    .orderBy('name')
    .execute();
  return rows.map(toEnvironment);
}

/** The environments of these models (of every model when `modelIds` is undefined), in one query. */
export async function listEnvironmentsOf(db: Db, modelIds?: readonly string[]): Promise<Environment[]> {
  if (modelIds?.length === 0) return [];
  let q = db.selectFrom('environments').selectAll();
  if (modelIds) q = q.where('model_id', 'in', [...modelIds]);
  const rows = await q.orderBy('model_id').orderBy('created_at').orderBy('name').execute();
  return rows.map(toEnvironment);
}

export async function getEnvironment(
  db: Db,
  modelId: string,
  name: string,
): Promise<Environment | undefined> {
  const row = await db
    .selectFrom('environments')
    .selectAll()
    .where('model_id', '=', modelId)
    .where('name', '=', name)
    .executeTakeFirst();
  return row && toEnvironment(row);
}

export async function createEnvironment(
  db: Db,
  modelId: string,
  name: string,
  settings: Partial<Environment> = {},
): Promise<Environment> {
  const environment: Environment = {
    id: newId('e'),
    model_id: modelId,
    name,
    current_deployment_id: settings.current_deployment_id ?? null,
    autoscaling_settings: settings.autoscaling_settings ?? DEFAULT_AUTOSCALING,
    promotion_settings: settings.promotion_settings ?? DEFAULT_PROMOTION_SETTINGS,
    instance_type_name: settings.instance_type_name ?? null,
    public: settings.public ?? false,
    is_active: settings.is_active ?? true,
    created_at: now(),
  };
  try {
    await db.insertInto('environments').values(columns.toRow(environment)).execute();
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new PlinthError('CONFLICT', `environment "${name}" already exists for this model`);
    }
    throw err;
  }
  return environment;
}

export async function updateEnvironment(db: Db, id: string, patch: EnvironmentPatch): Promise<Environment> {
  const set = columns.toPatch(patch);
  const q = db.updateTable('environments').where('id', '=', id);
  const row = await (Object.keys(set).length > 0 ? q.set(set) : q.set({ id }))
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new PlinthError('ENVIRONMENT_NOT_FOUND', `environment ${id} not found`);
  return toEnvironment(row);
}

export async function deleteEnvironment(db: Db, id: string): Promise<void> {
  await db.deleteFrom('environments').where('id', '=', id).execute();
}

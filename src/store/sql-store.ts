// The Store implemented once over Kysely. SQLite and PostgreSQL differ only in how they connect.
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { DEFAULT_AUTOSCALING, DEFAULT_PROMOTION_SETTINGS } from '../domain/autoscaling.ts';
import { PlinthError } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import type {
  ApiKey,
  Deployment,
  DeploymentEvent,
  Environment,
  LogRecord,
  Model,
  NewLogRecord,
  SecretInfo,
  Promotion,
  ReplicaRecord,
} from '../domain/types.ts';
import { toApiKey, toDeployment, toEnvironment, toEvent, toLog, toPromotion, toReplica } from './rows.ts';
import type { Database } from './schema.ts';
import type {
  ConcurrencyReport,
  DeploymentFilter,
  DeploymentPatch,
  EnvironmentPatch,
  LogQuery,
  MetricBucket,
  MoveOutcome,
  NewApiKey,
  NewDeployment,
  PromotionPatch,
  StatusMove,
  Store,
} from './store.ts';
import { canMove } from '../domain/deployment-status.ts';

const now = (): string => new Date().toISOString();

/** The deployments columns a patch writes (and the update time). */
function deploymentColumns(patch: DeploymentPatch): Partial<Database['deployments']> {
  const set: Partial<Database['deployments']> = { updated_at: now() };
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.desired_replicas !== undefined) set.desired_replicas = patch.desired_replicas;
  if (patch.has_served !== undefined) set.has_served = patch.has_served ? 1 : 0;
  if (patch.instance_type_name !== undefined) set.instance_type_name = patch.instance_type_name;
  if (patch.autoscaling_settings !== undefined)
    set.autoscaling_json = JSON.stringify(patch.autoscaling_settings);
  if (patch.bundle_sha256 !== undefined) set.bundle_sha256 = patch.bundle_sha256;
  if (patch.config !== undefined) set.config_json = JSON.stringify(patch.config);
  return set;
}

export class SqlStore implements Store {
  protected readonly db: Kysely<Database>;
  private readonly onClose: () => Promise<void>;

  constructor(db: Kysely<Database>, onClose: () => Promise<void> = async () => {}) {
    this.db = db;
    this.onClose = onClose;
  }

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return fn(this);
    return this.db.transaction().execute((trx) => fn(new SqlStore(trx)));
  }

  async createModel(name: string): Promise<Model> {
    return this.transaction(async (tx) => {
      const model: Model = { id: newId('m'), name, created_at: now() };
      await (tx as SqlStore).db.insertInto('models').values(model).execute();
      await tx.createEnvironment(model.id, 'production');
      return model;
    });
  }

  async getModel(idOrName: string): Promise<Model | undefined> {
    // An id wins over a model that happens to be named like one.
    const byId = await this.db.selectFrom('models').selectAll().where('id', '=', idOrName).executeTakeFirst();
    return byId ?? this.db.selectFrom('models').selectAll().where('name', '=', idOrName).executeTakeFirst();
  }

  async listModels(): Promise<Model[]> {
    return this.db.selectFrom('models').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  async deleteModel(id: string): Promise<void> {
    await this.transaction(async (tx) => {
      const db = (tx as SqlStore).db;
      const deployments = await db
        .selectFrom('deployments')
        .select('id')
        .where('model_id', '=', id)
        .execute();
      for (const d of deployments) await tx.deleteDeployment(d.id);
      await db.deleteFrom('promotions').where('model_id', '=', id).execute();
      await db.deleteFrom('environments').where('model_id', '=', id).execute();
      await db.deleteFrom('models').where('id', '=', id).execute();
    });
  }

  async createDeployment(input: NewDeployment): Promise<Deployment> {
    const time = now();
    const row = {
      id: input.id ?? newId('d'),
      model_id: input.model_id,
      name: input.name,
      status: input.status,
      status_reason: null,
      is_development: input.is_development ? 1 : 0,
      has_served: 0,
      bundle_sha256: input.bundle_sha256,
      config_json: JSON.stringify(input.config),
      instance_type_name: input.instance_type_name,
      autoscaling_json: JSON.stringify(input.autoscaling_settings),
      desired_replicas: 0,
      created_at: time,
      updated_at: time,
    };
    try {
      await this.db.insertInto('deployments').values(row).execute();
    } catch (err) {
      if (/unique|duplicate/i.test(String(err))) {
        throw new PlinthError('CONFLICT', `a deployment named "${input.name}" already exists for this model`);
      }
      throw err;
    }
    return toDeployment(row);
  }

  async getDeployment(id: string): Promise<Deployment | undefined> {
    const row = await this.db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toDeployment(row);
  }

  async listDeployments(filter: DeploymentFilter = {}): Promise<Deployment[]> {
    let q = this.db.selectFrom('deployments').selectAll();
    if (filter.model_id) q = q.where('model_id', '=', filter.model_id);
    if (filter.statuses) {
      if (filter.statuses.length === 0) return [];
      q = q.where('status', 'in', [...filter.statuses]);
    }
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(toDeployment);
  }

  async updateDeployment(id: string, patch: DeploymentPatch): Promise<Deployment> {
    const row = await this.db
      .updateTable('deployments')
      .set(deploymentColumns(patch))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst()
      .catch((err: unknown) => {
        if (/unique|duplicate/i.test(String(err))) {
          throw new PlinthError(
            'CONFLICT',
            `a deployment named "${patch.name}" already exists for this model`,
          );
        }
        throw err;
      });
    if (!row) throw new PlinthError('DEPLOYMENT_NOT_FOUND', `deployment ${id} not found`);
    return toDeployment(row);
  }

  async transition(id: string, move: StatusMove): Promise<MoveOutcome> {
    if (!canMove(move.from, move.to)) {
      return { moved: false, refusal: 'ILLEGAL', current: await this.getDeployment(id) };
    }
    return this.transaction(async (tx) => {
      const row = await (tx as SqlStore).db
        .updateTable('deployments')
        .set({ ...deploymentColumns(move.patch ?? {}), status: move.to, status_reason: move.reason })
        .where('id', '=', id)
        .where('status', '=', move.from)
        .returningAll()
        .executeTakeFirst();
      if (!row) {
        const current = await tx.getDeployment(id);
        return { moved: false, refusal: current ? 'STALE' : 'NOT_FOUND', current };
      }
      const deployment = toDeployment(row);
      if (move.from !== move.to) {
        await tx.recordEvent({
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

  async deleteDeployment(id: string): Promise<void> {
    await this.transaction(async (tx) => {
      const db = (tx as SqlStore).db;
      await db
        .updateTable('environments')
        .set({ current_deployment_id: null })
        .where('current_deployment_id', '=', id)
        .execute();
      await db.deleteFrom('replicas').where('deployment_id', '=', id).execute();
      await db.deleteFrom('events').where('deployment_id', '=', id).execute();
      await db.deleteFrom('logs').where('deployment_id', '=', id).execute();
      await db.deleteFrom('deployments').where('id', '=', id).execute();
    });
  }

  async listEnvironments(modelId: string): Promise<Environment[]> {
    const rows = await this.db
      .selectFrom('environments')
      .selectAll()
      .where('model_id', '=', modelId)
      .orderBy('created_at')
      .orderBy('name')
      .execute();
    return rows.map(toEnvironment);
  }

  async getEnvironment(modelId: string, name: string): Promise<Environment | undefined> {
    const row = await this.db
      .selectFrom('environments')
      .selectAll()
      .where('model_id', '=', modelId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toEnvironment(row);
  }

  async createEnvironment(
    modelId: string,
    name: string,
    settings: Partial<Environment> = {},
  ): Promise<Environment> {
    const row = {
      id: newId('e'),
      model_id: modelId,
      name,
      current_deployment_id: settings.current_deployment_id ?? null,
      autoscaling_json: JSON.stringify(settings.autoscaling_settings ?? DEFAULT_AUTOSCALING),
      promotion_json: JSON.stringify(settings.promotion_settings ?? DEFAULT_PROMOTION_SETTINGS),
      instance_type_name: settings.instance_type_name ?? null,
      is_public: settings.public ? 1 : 0,
      created_at: now(),
    };
    try {
      await this.db.insertInto('environments').values(row).execute();
    } catch (err) {
      if (/unique|duplicate/i.test(String(err))) {
        throw new PlinthError('CONFLICT', `environment "${name}" already exists for this model`);
      }
      throw err;
    }
    return toEnvironment(row);
  }

  async updateEnvironment(id: string, patch: EnvironmentPatch): Promise<Environment> {
    const set: Partial<Database['environments']> = {};
    if (patch.current_deployment_id !== undefined) set.current_deployment_id = patch.current_deployment_id;
    if (patch.autoscaling_settings !== undefined)
      set.autoscaling_json = JSON.stringify(patch.autoscaling_settings);
    if (patch.promotion_settings !== undefined) set.promotion_json = JSON.stringify(patch.promotion_settings);
    if (patch.instance_type_name !== undefined) set.instance_type_name = patch.instance_type_name;
    if (patch.public !== undefined) set.is_public = patch.public ? 1 : 0;
    const q = this.db.updateTable('environments').where('id', '=', id);
    const row = await (Object.keys(set).length > 0 ? q.set(set) : q.set({ id }))
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new PlinthError('ENVIRONMENT_NOT_FOUND', `environment ${id} not found`);
    return toEnvironment(row);
  }

  async deleteEnvironment(id: string): Promise<void> {
    await this.db.deleteFrom('environments').where('id', '=', id).execute();
  }

  async createPromotion(promotion: Omit<Promotion, 'id'>): Promise<Promotion> {
    const row = { id: newId('p'), ...promotion };
    await this.db.insertInto('promotions').values(row).execute();
    return toPromotion(row);
  }

  async updatePromotion(id: string, patch: PromotionPatch): Promise<Promotion> {
    const row = await this.db
      .updateTable('promotions')
      .set(patch)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new PlinthError('NOT_FOUND', `promotion ${id} not found`);
    return toPromotion(row);
  }

  async listPromotions(filter: {
    environment_id?: string;
    status?: Promotion['status'];
  }): Promise<Promotion[]> {
    let q = this.db.selectFrom('promotions').selectAll();
    if (filter.environment_id) q = q.where('environment_id', '=', filter.environment_id);
    if (filter.status) q = q.where('status', '=', filter.status);
    const rows = await q.orderBy('started_at', 'desc').orderBy('id', 'desc').execute();
    return rows.map(toPromotion);
  }

  async upsertReplica(replica: ReplicaRecord): Promise<void> {
    await this.db
      .insertInto('replicas')
      .values(replica)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          status: replica.status,
          address: replica.address,
          stopped_at: replica.stopped_at,
          exit_reason: replica.exit_reason,
        }),
      )
      .execute();
  }

  async listReplicas(filter: { deployment_id?: string; live?: boolean } = {}): Promise<ReplicaRecord[]> {
    let q = this.db.selectFrom('replicas').selectAll();
    if (filter.deployment_id) q = q.where('deployment_id', '=', filter.deployment_id);
    if (filter.live) q = q.where('status', 'in', ['STARTING', 'READY', 'DRAINING']);
    const rows = await q.orderBy('started_at').orderBy('id').execute();
    return rows.map(toReplica);
  }

  async recordEvent(event: Omit<DeploymentEvent, 'id'>): Promise<DeploymentEvent> {
    const row = await this.db.insertInto('events').values(event).returningAll().executeTakeFirstOrThrow();
    return toEvent(row);
  }

  async listEvents(deploymentId: string): Promise<DeploymentEvent[]> {
    const rows = await this.db
      .selectFrom('events')
      .selectAll()
      .where('deployment_id', '=', deploymentId)
      .orderBy('id')
      .execute();
    return rows.map(toEvent);
  }

  async createApiKey(input: NewApiKey): Promise<ApiKey> {
    const { models, ...rest } = input;
    const row = {
      id: newId('k'),
      ...rest,
      models_json: models ? JSON.stringify(models) : null,
      created_at: now(),
      revoked_at: null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return toApiKey(row);
  }

  async findApiKeyByHash(hash: string): Promise<ApiKey | undefined> {
    const row = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row && toApiKey(row);
  }

  async listApiKeys(): Promise<ApiKey[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().orderBy('created_at').execute();
    return rows.map(toApiKey);
  }

  async revokeApiKey(id: string): Promise<void> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new PlinthError('NOT_FOUND', `API key ${id} not found`);
  }

  async putSecret(name: string, ciphertext: string): Promise<SecretInfo> {
    const at = now();
    await this.db
      .insertInto('secrets')
      .values({ name, ciphertext, created_at: at, updated_at: at })
      .onConflict((oc) => oc.column('name').doUpdateSet({ ciphertext, updated_at: at }))
      .execute();
    const row = await this.db
      .selectFrom('secrets')
      .select(['name', 'created_at', 'updated_at'])
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return row;
  }

  async getSecretCiphertext(name: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('secrets')
      .select('ciphertext')
      .where('name', '=', name)
      .executeTakeFirst();
    return row?.ciphertext;
  }

  async listSecrets(): Promise<SecretInfo[]> {
    return this.db
      .selectFrom('secrets')
      .select(['name', 'created_at', 'updated_at'])
      .orderBy('name')
      .execute();
  }

  async deleteSecret(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async appendLogs(records: readonly NewLogRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.db
      .insertInto('logs')
      .values([...records])
      .execute();
  }

  async queryLogs(query: LogQuery): Promise<LogRecord[]> {
    let q = this.db.selectFrom('logs').selectAll();
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
    return rows.map(toLog);
  }

  async pruneLogs(options: { before?: string; keep?: number }): Promise<number> {
    let removed = 0;
    if (options.before) {
      const r = await this.db.deleteFrom('logs').where('time', '<', options.before).executeTakeFirst();
      removed += Number(r.numDeletedRows);
    }
    if (options.keep !== undefined) {
      const cutoff = await this.db
        .selectFrom('logs')
        .select('id')
        .orderBy('id', 'desc')
        .offset(options.keep)
        .limit(1)
        .executeTakeFirst();
      if (cutoff) {
        const r = await this.db.deleteFrom('logs').where('id', '<=', cutoff.id).executeTakeFirst();
        removed += Number(r.numDeletedRows);
      }
    }
    return removed;
  }

  async saveMetricBuckets(buckets: readonly MetricBucket[]): Promise<void> {
    if (buckets.length === 0) return;
    await this.db
      .insertInto('metric_buckets')
      .values(
        buckets.map((b) => ({
          scope: b.scope,
          resolution_s: b.resolution_s,
          start_ms: b.start_ms,
          data_json: JSON.stringify(b.data),
        })),
      )
      .onConflict((oc) =>
        oc
          .columns(['scope', 'resolution_s', 'start_ms'])
          .doUpdateSet((eb) => ({ data_json: eb.ref('excluded.data_json') })),
      )
      .execute();
  }

  async queryMetricBuckets(query: {
    scope: string;
    resolution_s: number;
    from_ms: number;
    to_ms: number;
  }): Promise<MetricBucket[]> {
    const rows = await this.db
      .selectFrom('metric_buckets')
      .selectAll()
      .where('scope', '=', query.scope)
      .where('resolution_s', '=', query.resolution_s)
      .where('start_ms', '>=', query.from_ms)
      .where('start_ms', '<', query.to_ms)
      .orderBy('start_ms')
      .execute();
    return rows.map((r) => ({
      scope: r.scope,
      resolution_s: Number(r.resolution_s),
      start_ms: Number(r.start_ms),
      data: JSON.parse(r.data_json) as unknown,
    }));
  }

  async pruneMetricBuckets(resolution_s: number, before_ms: number): Promise<number> {
    const r = await this.db
      .deleteFrom('metric_buckets')
      .where('resolution_s', '=', resolution_s)
      .where('start_ms', '<', before_ms)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async reportConcurrency(reports: readonly ConcurrencyReport[]): Promise<void> {
    if (reports.length === 0) return;
    await this.db
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

  async listConcurrency(since_ms: number): Promise<ConcurrencyReport[]> {
    await this.db.deleteFrom('gateway_concurrency').where('reported_ms', '<', since_ms).execute();
    const rows = await this.db.selectFrom('gateway_concurrency').selectAll().execute();
    return rows.map((r) => ({
      ...r,
      concurrency: Number(r.concurrency),
      reported_ms: Number(r.reported_ms),
    }));
  }

  async close(): Promise<void> {
    await this.db.destroy();
    await this.onClose();
  }
}

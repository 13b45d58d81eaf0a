// Schema migrations, written once for both SQLite and PostgreSQL (only the serial column differs).
import { Migrator, sql } from 'kysely';
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { modelNameKey } from '../domain/model-name.ts';

export type SqlDialectName = 'sqlite' | 'postgres';

function migrations(dialect: SqlDialectName): Record<string, Migration> {
  const serial = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    '0001_core': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('models')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('deployments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('model_id', 'text', (c) => c.notNull().references('models.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('status_reason', 'text')
          .addColumn('is_development', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('has_served', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('bundle_sha256', 'text', (c) => c.notNull())
          .addColumn('config_json', 'text', (c) => c.notNull())
          .addColumn('instance_type_name', 'text', (c) => c.notNull())
          .addColumn('autoscaling_json', 'text', (c) => c.notNull())
          .addColumn('desired_replicas', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('deployments_model_name', ['model_id', 'name'])
          .execute();
        await db.schema
          .createTable('environments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('model_id', 'text', (c) => c.notNull().references('models.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('current_deployment_id', 'text')
          .addColumn('autoscaling_json', 'text', (c) => c.notNull())
          .addColumn('promotion_json', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('environments_model_name', ['model_id', 'name'])
          .execute();
        await db.schema
          .createTable('replicas')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('deployment_id', 'text', (c) =>
            c.notNull().references('deployments.id').onDelete('cascade'),
          )
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('address', 'text')
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('stopped_at', 'text')
          .addColumn('exit_reason', 'text')
          .execute();
        await db.schema
          .createTable('events')
          .addColumn('id', sql.raw(serial), (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('model_id', 'text', (c) => c.notNull())
          .addColumn('deployment_id', 'text', (c) =>
            c.notNull().references('deployments.id').onDelete('cascade'),
          )
          .addColumn('time', 'text', (c) => c.notNull())
          .addColumn('from_status', 'text')
          .addColumn('to_status', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('api_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .execute();
        await db.schema
          .createTable('logs')
          .addColumn('id', sql.raw(serial), (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('time', 'text', (c) => c.notNull())
          .addColumn('model_id', 'text', (c) => c.notNull())
          .addColumn('deployment_id', 'text', (c) => c.notNull())
          .addColumn('replica_id', 'text')
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('level', 'text', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('request_id', 'text')
          .execute();
        await db.schema.createIndex('logs_deployment').on('logs').columns(['deployment_id', 'id']).execute();
        await db.schema
          .createIndex('events_deployment')
          .on('events')
          .columns(['deployment_id', 'id'])
          .execute();
        await db.schema.createIndex('deployments_model').on('deployments').column('model_id').execute();
      },
    },
    '0002_promotions': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('environments').addColumn('instance_type_name', 'text').execute();
        await db.schema
          .createTable('promotions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('model_id', 'text', (c) => c.notNull())
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('environment_name', 'text', (c) => c.notNull())
          .addColumn('from_deployment_id', 'text')
          .addColumn('to_deployment_id', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('phase', 'text', (c) => c.notNull())
          .addColumn('traffic_percent', 'integer', (c) => c.notNull())
          .addColumn('cleanup_strategy', 'text', (c) => c.notNull())
          .addColumn('ramp_up_duration_seconds', 'integer', (c) => c.notNull())
          .addColumn('replicas_needed', 'integer', (c) => c.notNull())
          .addColumn('requested_by', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('ramp_started_at', 'text')
          .addColumn('finished_at', 'text')
          .execute();
        await db.schema
          .createIndex('promotions_environment')
          .on('promotions')
          .columns(['environment_id', 'started_at'])
          .execute();
      },
    },
    '0003_metrics': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('metric_buckets')
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('resolution_s', 'integer', (c) => c.notNull())
          .addColumn('start_ms', 'bigint', (c) => c.notNull())
          .addColumn('data_json', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('metric_buckets_pk', ['scope', 'resolution_s', 'start_ms'])
          .execute();
        await db.schema.createIndex('logs_request_id').on('logs').column('request_id').execute();
        await db.schema.createIndex('logs_time').on('logs').column('time').execute();
      },
    },
    '0004_security': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('api_keys').addColumn('models_json', 'text').execute();
        await db.schema
          .alterTable('environments')
          .addColumn('is_public', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createTable('secrets')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('ciphertext', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0005_gateways': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('gateway_concurrency')
          .addColumn('gateway_id', 'text', (c) => c.notNull())
          .addColumn('deployment_id', 'text', (c) => c.notNull())
          .addColumn('concurrency', 'integer', (c) => c.notNull())
          .addColumn('reported_ms', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('gateway_concurrency_pk', ['gateway_id', 'deployment_id'])
          .execute();
      },
    },
    '0006_revisions': {
      async up(db: Kysely<unknown>) {
        // What a deployment's replicas run: its revision, and the build of that revision.
        await db.schema
          .alterTable('deployments')
          .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.alterTable('deployments').addColumn('build_json', 'text').execute();
        // A development patch's way back (the revision it replaced), and the highest revision it
        // has had: revision numbers are never used twice.
        await db.schema.alterTable('deployments').addColumn('rollback_json', 'text').execute();
        await db.schema
          .alterTable('deployments')
          .addColumn('last_revision', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('replicas')
          .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0007_replica_tokens': {
      async up(db: Kysely<unknown>) {
        // What a local replica's model server wants from a gateway (x-plinth-replica-token).
        await db.schema.alterTable('replicas').addColumn('token', 'text').execute();
      },
    },
    '0008_model_name_key': {
      async up(db: Kysely<unknown>) {
        // Model names are unique regardless of case: the key is modelNameKey(name), computed here
        // (not by the database's lower(), which SQLite applies to ASCII only). Of models made
        // before this whose names differ only in case, the oldest keeps the key; the others keep
        // a null key (a unique index allows many) and stay reachable by id and exact name.
        await db.schema.alterTable('models').addColumn('name_key', 'text').execute();
        const { rows } = await sql<{ id: string; name: string }>`
          select id, name from models order by created_at, id`.execute(db);
        const taken = new Set<string>();
        for (const row of rows) {
          const key = modelNameKey(row.name);
          if (taken.has(key)) continue;
          taken.add(key);
          await sql`update models set name_key = ${key} where id = ${row.id}`.execute(db);
        }
        await db.schema
          .createIndex('models_case_insensitive_name')
          .on('models')
          .column('name_key')
          .unique()
          .execute();
      },
    },
    '0009_async_requests': {
      async up(db: Kysely<unknown>) {
        // The durable queue of async requests. `seq` is the arrival order (ids are random); times
        // the queue compares are numbers (ms since epoch) so both databases compare them plainly.
        await db.schema
          .createTable('async_requests')
          .addColumn('seq', sql.raw(serial), (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('model_id', 'text', (c) => c.notNull().references('models.id').onDelete('cascade'))
          .addColumn('deployment_id', 'text', (c) =>
            c.notNull().references('deployments.id').onDelete('cascade'),
          )
          .addColumn('environment', 'text')
          .addColumn('priority', 'integer', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('input_json', 'text', (c) => c.notNull())
          .addColumn('webhook_endpoint', 'text')
          .addColumn('max_time_in_queue_s', 'integer', (c) => c.notNull())
          .addColumn('retry_json', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('errors_json', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_ms', 'bigint', (c) => c.notNull())
          .addColumn('started_at', 'text')
          .addColumn('finished_at', 'text')
          .addColumn('not_before_ms', 'bigint', (c) => c.notNull())
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until_ms', 'bigint')
          .addColumn('output_json', 'text')
          .addColumn('output_expires_ms', 'bigint')
          .addColumn('webhook_status', 'text')
          .addColumn('webhook_attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('webhook_next_ms', 'bigint')
          .execute();
        // The claim order, expiry and lease sweeps, webhooks due, and pruning.
        await db.schema
          .createIndex('async_requests_claim')
          .on('async_requests')
          .columns(['deployment_id', 'status', 'priority', 'seq'])
          .execute();
        await db.schema
          .createIndex('async_requests_status_created')
          .on('async_requests')
          .columns(['status', 'created_ms'])
          .execute();
        await db.schema
          .createIndex('async_requests_webhooks_due')
          .on('async_requests')
          .columns(['webhook_status', 'webhook_next_ms'])
          .execute();
        await db.schema
          .createIndex('async_requests_output_expires')
          .on('async_requests')
          .column('output_expires_ms')
          .execute();
        await db.schema.createIndex('async_requests_model').on('async_requests').column('model_id').execute();
      },
    },
    '0010_webhook_secrets': {
      async up(db: Kysely<unknown>) {
        // Webhook signing secrets (ciphertexts); a revoked one signs until expires_at.
        await db.schema
          .createTable('webhook_secrets')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('ciphertext', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .execute();
      },
    },
    '0011_promotion_controls': {
      async up(db: Kysely<unknown>) {
        // Pause, rolling deploys and who did what; environments that can be deactivated.
        await db.schema.alterTable('promotions').addColumn('paused_at', 'text').execute();
        await db.schema.alterTable('promotions').addColumn('rolling_json', 'text').execute();
        await db.schema
          .alterTable('promotions')
          .addColumn('actions_json', 'text', (c) => c.notNull().defaultTo('[]'))
          .execute();
        await db.schema
          .alterTable('environments')
          .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
          .execute();
      },
    },
    '0012_last_request': {
      async up(db: Kysely<unknown>) {
        // When each deployment last answered an inference request (ms since epoch), so that the
        // inactivity check (`plinth up --deactivate-after-idle`) counts from it across restarts.
        await db.schema.alterTable('deployments').addColumn('last_request_ms', 'bigint').execute();
      },
    },
    '0013_scale_indexes': {
      async up(db: Kysely<unknown>) {
        // What the control loops and the API look up on every pass or request, so that none of it
        // reads a whole table that only grows (replica and promotion history, metric buckets).
        const index = (name: string, table: string, columns: string[]) =>
          db.schema.createIndex(name).ifNotExists().on(table).columns(columns).execute();
        await index('replicas_deployment_status', 'replicas', ['deployment_id', 'status']);
        await index('replicas_status', 'replicas', ['status']);
        await index('promotions_status', 'promotions', ['status']);
        await index('deployments_status', 'deployments', ['status']);
        await index('models_created', 'models', ['created_at', 'id']);
        await index('metric_buckets_resolution_start', 'metric_buckets', ['resolution_s', 'start_ms']);
        // A scope's buckets as every process wrote them (`scope`, `scope@<gateway>`) were found
        // with LIKE, which reads the whole table: the scope without its writer gets a column.
        await db.schema.alterTable('metric_buckets').addColumn('base_scope', 'text').execute();
        const { rows } = await sql<{ scope: string }>`select distinct scope from metric_buckets`.execute(db);
        for (const { scope } of rows) {
          await sql`update metric_buckets set base_scope = ${scope.split('@')[0]!} where scope = ${scope}`.execute(
            db,
          );
        }
        await index('metric_buckets_base_scope', 'metric_buckets', [
          'base_scope',
          'resolution_s',
          'start_ms',
        ]);
      },
    },
  };
}

export async function migrateToLatest(db: Kysely<unknown>, dialect: SqlDialectName): Promise<void> {
  return migrateTo(db, dialect);
}

/** Migrates up to (and including) `name`, or to the latest; tests use it to make an older store. */
export async function migrateTo(db: Kysely<unknown>, dialect: SqlDialectName, name?: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const migrator = new Migrator({ db, provider });
  const { error, results } =
    name === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(name);
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`store migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}

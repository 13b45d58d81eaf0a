import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { DEFAULT_AUTOSCALING } from '../../domain/autoscaling.ts';
import { migrateTo } from '../migrations.ts';
import { runStoreSuite } from '../store-suite.ts';
import { openSqliteStore } from './open.ts';

runStoreSuite('sqlite (memory)', () => openSqliteStore(':memory:'));

test('a SQLite store on disk keeps its data across a reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-store-'));
  try {
    const file = join(dir, 'plinth.db');
    const first = await openSqliteStore(file);
    const model = await first.createModel('kept');
    await first.close();
    const second = await openSqliteStore(file);
    assert.deepEqual(await second.getModel('kept'), model);
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('models made before names were unique regardless of case stay reachable; the oldest holds the name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-store-'));
  try {
    const file = join(dir, 'plinth.db');
    const old = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database(file) }) });
    await migrateTo(old, 'sqlite', '0007_replica_tokens');
    await sql`insert into models (id, name, created_at) values ('maaaaaaa', 'Foo', '2026-01-01T00:00:00Z'),
      ('mbbbbbbb', 'foo', '2026-01-02T00:00:00Z')`.execute(old);
    await old.destroy();
    const store = await openSqliteStore(file);
    assert.equal((await store.getModel('Foo'))?.id, 'maaaaaaa');
    assert.equal((await store.getModel('foo'))?.id, 'mbbbbbbb');
    await assert.rejects(store.createModel('FOO'), /"FOO" is taken by model "Foo"/);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('autoscaling settings written before max_scale_down_rate existed read it as null (no limit)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-store-'));
  try {
    const file = join(dir, 'plinth.db');
    const first = await openSqliteStore(file);
    const model = await first.createModel('older');
    const d = await first.createDeployment({
      model_id: model.id,
      name: 'deployment-1',
      status: 'BUILDING',
      is_development: false,
      bundle_sha256: 'a'.repeat(64),
      config: { model_name: 'older' },
      instance_type_name: '1x2',
      autoscaling_settings: { ...DEFAULT_AUTOSCALING, max_scale_down_rate: 25 },
    });
    await first.close();
    // The JSON an older Plinth wrote: every field of its day, and no max_scale_down_rate.
    const older = JSON.stringify({
      min_replica: 0,
      max_replica: 4,
      concurrency_target: 1,
      target_utilization_percentage: 70,
      autoscaling_window: 60,
      scale_down_delay: 900,
    });
    const raw = new Database(file);
    raw.prepare('update deployments set autoscaling_json = ?').run(older);
    raw.prepare('update environments set autoscaling_json = ?').run(older);
    raw.close();
    const store = await openSqliteStore(file);
    const settings = (await store.getDeployment(d.id))!.autoscaling_settings;
    assert.equal(settings.max_scale_down_rate, null);
    assert.equal(settings.max_replica, 4, 'what the row stored is kept');
    const [production] = await store.listEnvironments(model.id);
    assert.equal(production!.autoscaling_settings.max_scale_down_rate, null);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what the control loops and lists look up on every pass is found by an index, not a table scan', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-store-'));
  try {
    const file = join(dir, 'plinth.db');
    await (await openSqliteStore(file)).close();
    const raw = new Database(file, { readonly: true });
    const plan = (query: string): string =>
      (raw.prepare(`explain query plan ${query}`).all() as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
    const lookups = [
      // A deployment's live replicas (the API), every live replica (a restart, the route feed).
      "select * from replicas where deployment_id = 'd' and status in ('STARTING', 'READY', 'DRAINING')",
      "select * from replicas where status in ('STARTING', 'READY', 'DRAINING')",
      // Promotions in progress (the autoscaler, the promotion controller: each tick).
      "select * from promotions where status = 'IN_PROGRESS'",
      // The builder's look for deployments to build (each tick).
      "select * from deployments where status in ('BUILDING', 'WAKING_UP')",
      // Metric buckets past their retention (each flush).
      'delete from metric_buckets where resolution_s = 10 and start_ms < 0',
      // A scope's buckets as every process wrote them (a metrics query), and as an older Plinth did.
      "select scope from metric_buckets where resolution_s = 10 and start_ms >= 0 and start_ms < 1 and base_scope = 'deployment:d'",
      `select scope from metric_buckets where resolution_s = 10 and start_ms >= 0 and start_ms < 1 and base_scope is null
        and (scope = 'deployment:d' or scope like 'deployment:d@%' escape '\\')`,
    ];
    for (const query of lookups) {
      assert.match(plan(query), /USING (COVERING )?INDEX/, query);
      if (query.includes('base_scope')) assert.match(plan(query), /metric_buckets_base_scope/, query);
      assert.doesNotMatch(plan(query), /^SCAN \w+$/, query);
    }
    // A page of models, in order, without sorting the table first.
    const page = plan("select * from models where created_at > '' order by created_at, id limit 100");
    assert.doesNotMatch(page, /TEMP B-TREE/, page);
    raw.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("metric buckets written before scopes had a base are found, each writer's, after the upgrade and from older writers", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-store-'));
  try {
    const file = join(dir, 'plinth.db');
    const old = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database(file) }) });
    await migrateTo(old, 'sqlite', '0012_last_request');
    await sql`insert into metric_buckets (scope, resolution_s, start_ms, data_json) values
      ('deployment:d1', 10, 1000, '{"n":1}'), ('deployment:d1@gw-1', 10, 1000, '{"n":2}'),
      ('deployment:d10', 10, 1000, '{"n":3}')`.execute(old);
    await old.destroy();
    const store = await openSqliteStore(file);
    // An older gateway, still running, writes without a base.
    const raw = new Database(file);
    raw
      .prepare(
        `insert into metric_buckets (scope, resolution_s, start_ms, data_json) values (?, 10, 2000, ?)`,
      )
      .run('deployment:d1@gw-2', '{"n":4}');
    raw.close();
    await store.saveMetricBuckets([
      { scope: 'deployment:d1@gw-3', resolution_s: 10, start_ms: 3000, data: { n: 5 } },
    ]);
    const found = await store.queryMetricBuckets({
      scope: 'deployment:d1',
      resolution_s: 10,
      from_ms: 0,
      to_ms: 10_000,
    });
    assert.deepEqual(
      found.map((b) => [b.scope, b.start_ms, (b.data as { n: number }).n]).sort(),
      [
        ['deployment:d1', 1000, 1],
        ['deployment:d1@gw-1', 1000, 2],
        ['deployment:d1@gw-2', 2000, 4],
        ['deployment:d1@gw-3', 3000, 5],
      ],
      'not deployment:d10',
    );
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

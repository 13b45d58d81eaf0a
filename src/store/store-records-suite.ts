// The shared Store suite, part two: what the platform records beside deployments — events,
// replicas, logs, promotions, metric buckets, API keys, secrets, gateway reports and last request
// times. Run by runStoreSuite (store-suite.ts) against every Store implementation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sleep } from '../../test/support/wait.ts';
import type { StoreSuiteContext } from './store-suite.ts';

export function recordCases(ctx: StoreSuiteContext): void {
  test('events, replicas and logs are recorded in order and queried', async () => {
    const store = ctx.store;
    const model = await store.createModel('hello');
    const d = await store.createDeployment(ctx.deploymentOf(model.id));
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    await store.recordEvent({
      model_id: model.id,
      deployment_id: d.id,
      time: t(1),
      from_status: null,
      to_status: 'BUILDING',
      reason: 'pushed',
    });
    await store.recordEvent({
      model_id: model.id,
      deployment_id: d.id,
      time: t(2),
      from_status: 'BUILDING',
      to_status: 'DEPLOYING',
      reason: 'built',
    });
    assert.deepEqual(
      (await store.listEvents(d.id)).map((e) => [e.from_status, e.to_status, e.reason]),
      [
        [null, 'BUILDING', 'pushed'],
        ['BUILDING', 'DEPLOYING', 'built'],
      ],
    );
    await store.upsertReplica({
      id: 'r1',
      deployment_id: d.id,
      status: 'STARTING',
      address: null,
      started_at: t(3),
      stopped_at: null,
      exit_reason: null,
      revision: 0,
    });
    await store.upsertReplica({
      id: 'r1',
      deployment_id: d.id,
      status: 'READY',
      address: '127.0.0.1:9',
      started_at: t(3),
      stopped_at: null,
      exit_reason: null,
      revision: 0,
    });
    await store.upsertReplica({
      id: 'r2',
      deployment_id: d.id,
      status: 'STOPPED',
      address: null,
      started_at: t(4),
      stopped_at: t(5),
      exit_reason: 'exit 1',
      revision: 0,
    });
    assert.deepEqual(
      (await store.listReplicas({ deployment_id: d.id, live: true })).map((r) => [r.id, r.status, r.address]),
      [['r1', 'READY', '127.0.0.1:9']],
    );
    assert.equal((await store.listReplicas()).length, 2);
    const base = {
      model_id: model.id,
      deployment_id: d.id,
      replica_id: 'r1',
      source: 'replica' as const,
      request_id: null,
    };
    await store.appendLogs([
      { ...base, time: t(1), level: 'INFO', message: 'loading 50% done' },
      { ...base, time: t(2), level: 'ERROR', message: 'load failed: boom' },
      { ...base, time: t(3), level: 'INFO', message: 'ready', replica_id: 'r2' },
    ]);
    const all = await store.queryLogs({ deployment_id: d.id });
    assert.deepEqual(
      all.map((l) => l.message),
      ['loading 50% done', 'load failed: boom', 'ready'],
    );
    assert.deepEqual(
      (await store.queryLogs({ deployment_id: d.id, levels: ['ERROR'] })).map((l) => l.message),
      ['load failed: boom'],
    );
    assert.deepEqual((await store.queryLogs({ deployment_id: d.id, after_id: all[0]!.id })).length, 2);
    assert.deepEqual(
      (await store.queryLogs({ deployment_id: d.id, since: t(2), until: t(2) })).map((l) => l.message),
      ['load failed: boom'],
    );
    assert.deepEqual(
      (await store.queryLogs({ deployment_id: d.id, search: '50%' })).map((l) => l.message),
      ['loading 50% done'],
    );
    assert.deepEqual(
      (await store.queryLogs({ deployment_id: d.id, search: 'LOADING 5' })).map((l) => l.message),
      ['loading 50% done'],
      'search ignores case, on every database',
    );
    assert.deepEqual(
      (await store.queryLogs({ deployment_id: d.id, replica_id: 'r2' })).map((l) => l.message),
      ['ready'],
    );
    await store.appendLogs([
      { ...base, time: t(4), level: 'INFO', message: 'predicting', request_id: 'req-7' },
    ]);
    assert.deepEqual(
      (await store.queryLogs({ deployment_id: d.id, request_id: 'req-7' })).map((l) => l.message),
      ['predicting'],
    );
    assert.equal(await store.pruneLogs({ before: t(2) }), 1, 'older than the cut: gone');
    assert.equal(await store.pruneLogs({ keep: 2 }), 1, 'beyond the newest 2: gone');
    assert.deepEqual(
      (await store.queryLogs({ deployment_id: d.id })).map((l) => l.message),
      ['ready', 'predicting'],
    );
    await store.appendLogs([{ ...base, time: t(5), level: 'INFO', message: 'done' }]);
    assert.equal((await store.queryLogs({ deployment_id: d.id, limit: 1 })).length, 1);
    assert.deepEqual(
      (await store.queryLogs({ deployment_id: d.id, limit: 2, newest: true })).map((l) => l.message),
      ['predicting', 'done'],
      'the newest two, oldest first',
    );
  });

  test('promotions are recorded, updated and listed newest first; environments can be deleted', async () => {
    const store = ctx.store;
    const model = await store.createModel('hello');
    const d = await store.createDeployment(ctx.deploymentOf(model.id));
    const staging = await store.createEnvironment(model.id, 'staging', { instance_type_name: '2x8' });
    assert.equal(staging.instance_type_name, '2x8');
    assert.equal(staging.promotion_settings.cleanup_strategy, 'SCALE_TO_ZERO');
    const base = {
      model_id: model.id,
      environment_id: staging.id,
      environment_name: 'staging',
      from_deployment_id: null,
      to_deployment_id: d.id,
      status: 'IN_PROGRESS' as const,
      phase: 'WAITING_FOR_REPLICAS' as const,
      traffic_percent: 0,
      cleanup_strategy: 'KEEP' as const,
      ramp_up_duration_seconds: 0,
      replicas_needed: 1,
      requested_by: 'admin',
      reason: null,
      ramp_started_at: null,
      finished_at: null,
      paused_at: null,
      rolling: null,
      actions: [],
    };
    const first = await store.createPromotion({ ...base, started_at: '2026-01-01T00:00:00.000Z' });
    const second = await store.createPromotion({ ...base, started_at: '2026-01-01T00:00:01.000Z' });
    const done = await store.updatePromotion(first.id, {
      status: 'SUCCEEDED',
      phase: 'DONE',
      traffic_percent: 100,
    });
    assert.equal(done.status, 'SUCCEEDED');
    const rolling = {
      max_surge_percent: 50,
      max_unavailable_percent: 0,
      stabilization_time_seconds: 5,
      replicas: 4,
      incoming_target: 2,
      outgoing_target: 4,
      stable_since: '2026-01-01T00:00:02.000Z',
    };
    const actions = [{ action: 'pause' as const, by: 'alice', at: '2026-01-01T00:00:03.000Z' }];
    await store.updatePromotion(second.id, { rolling, actions, paused_at: '2026-01-01T00:00:03.000Z' });
    const stored = (await store.listPromotions({ environment_id: staging.id }))[0]!;
    assert.deepEqual(
      [stored.rolling, stored.actions, stored.paused_at],
      [rolling, actions, '2026-01-01T00:00:03.000Z'],
    );
    assert.deepEqual([first.rolling, first.actions, first.paused_at], [null, [], null]);
    assert.equal(staging.is_active, true);
    assert.equal((await store.updateEnvironment(staging.id, { is_active: false })).is_active, false);
    assert.equal((await store.getEnvironment(model.id, 'staging'))!.is_active, false);
    assert.deepEqual(
      (await store.listPromotions({ environment_id: staging.id })).map((p) => p.id),
      [second.id, first.id],
    );
    assert.deepEqual(
      (await store.listPromotions({ status: 'IN_PROGRESS' })).map((p) => p.id),
      [second.id],
    );
    await store.deleteEnvironment(staging.id);
    assert.equal(await store.getEnvironment(model.id, 'staging'), undefined);
  });

  test('metric buckets are written, replaced, read by range and pruned', async () => {
    const store = ctx.store;
    const bucket = (start_ms: number, n: number) => ({
      scope: 'deployment:d1',
      resolution_s: 10,
      start_ms,
      data: { n },
    });
    await store.saveMetricBuckets([bucket(0, 1), bucket(10_000, 2), bucket(20_000, 3)]);
    await store.saveMetricBuckets([bucket(10_000, 20)]);
    await store.saveMetricBuckets([{ ...bucket(10_000, 99), scope: 'deployment:d2' }]);
    const read = await store.queryMetricBuckets({
      scope: 'deployment:d1',
      resolution_s: 10,
      from_ms: 5_000,
      to_ms: 30_000,
    });
    assert.deepEqual(
      read.map((b) => [b.start_ms, b.data]),
      [
        [10_000, { n: 20 }],
        [20_000, { n: 3 }],
      ],
    );
    assert.equal(await store.pruneMetricBuckets(10, 15_000), 3);
    assert.equal(
      (
        await store.queryMetricBuckets({
          scope: 'deployment:d1',
          resolution_s: 10,
          from_ms: 0,
          to_ms: 1e12,
        })
      ).length,
      1,
    );
  });

  test('API keys are found by hash until revoked', async () => {
    const store = ctx.store;
    const key = await store.createApiKey({ name: 'admin', prefix: 'plk_abc', hash: 'h1', scope: 'admin' });
    assert.equal((await store.findApiKeyByHash('h1'))?.id, key.id);
    assert.equal(await store.findApiKeyByHash('h2'), undefined);
    await store.revokeApiKey(key.id);
    assert.equal(await store.findApiKeyByHash('h1'), undefined);
    assert.ok((await store.listApiKeys())[0]!.revoked_at);
    await assert.rejects(store.revokeApiKey(key.id), /not found/);
  });

  test('secrets are stored by name, replaced keeping their creation time, listed without values and deleted', async () => {
    const store = ctx.store;
    const first = await store.putSecret('hf_token', 'cipher-1');
    assert.equal(await store.getSecretCiphertext('hf_token'), 'cipher-1');
    await sleep(5);
    const second = await store.putSecret('hf_token', 'cipher-2');
    assert.equal(second.created_at, first.created_at);
    assert.ok(second.updated_at > first.updated_at);
    assert.equal(await store.getSecretCiphertext('hf_token'), 'cipher-2');
    await store.putSecret('another', 'cipher-3');
    assert.deepEqual(
      (await store.listSecrets()).map((x) => Object.keys(x).sort().join(',') + ':' + x.name).sort(),
      ['created_at,name,updated_at:another', 'created_at,name,updated_at:hf_token'],
    );
    assert.equal(await store.deleteSecret('hf_token'), true);
    assert.equal(await store.deleteSecret('hf_token'), false);
    assert.equal(await store.getSecretCiphertext('hf_token'), undefined);
  });

  test('gateways report their concurrency per deployment; a new report replaces the last, old ones go', async () => {
    const store = ctx.store;
    await store.reportConcurrency([
      { gateway_id: 'g1', deployment_id: 'd1', concurrency: 3, reported_ms: 1000 },
      { gateway_id: 'g2', deployment_id: 'd1', concurrency: 4, reported_ms: 1000 },
      { gateway_id: 'g2', deployment_id: 'd2', concurrency: 1, reported_ms: 500 },
    ]);
    await store.reportConcurrency([
      { gateway_id: 'g1', deployment_id: 'd1', concurrency: 5, reported_ms: 2000 },
    ]);
    const sorted = (await store.listConcurrency(900)).sort((a, b) =>
      a.gateway_id.localeCompare(b.gateway_id),
    );
    assert.deepEqual(sorted, [
      { gateway_id: 'g1', deployment_id: 'd1', concurrency: 5, reported_ms: 2000 },
      { gateway_id: 'g2', deployment_id: 'd1', concurrency: 4, reported_ms: 1000 },
    ]);
    assert.equal((await store.listConcurrency(0)).length, 2, 'the stale report was removed');
  });
}

export function trafficCases(ctx: StoreSuiteContext): void {
  test('last request times are kept per deployment, never move back, and go with their deployment', async () => {
    const store = ctx.store;
    const model = await store.createModel('traffic');
    const a = await store.createDeployment(ctx.deploymentOf(model.id, 'deployment-1'));
    const b = await store.createDeployment(ctx.deploymentOf(model.id, 'deployment-2'));
    assert.deepEqual(await store.lastTraffic(), new Map(), 'none has answered a request');
    const t = Date.parse('2026-03-01T00:00:00Z');
    await store.recordTraffic([
      { deployment_id: a.id, last_request_ms: t },
      { deployment_id: b.id, last_request_ms: t + 5000 },
    ]);
    await store.recordTraffic([
      { deployment_id: a.id, last_request_ms: t + 9000 },
      { deployment_id: b.id, last_request_ms: t + 1000 },
      { deployment_id: 'dmissing', last_request_ms: t },
    ]);
    assert.deepEqual(
      await store.lastTraffic(),
      new Map([
        [a.id, t + 9000],
        [b.id, t + 5000],
      ]),
      "a later time wins, an earlier one is ignored, an unknown deployment's is dropped",
    );
    const before = (await store.getDeployment(a.id))!;
    assert.equal(before.updated_at, a.updated_at, 'noting traffic is no change to the deployment');
    await store.deleteDeployment(a.id);
    assert.deepEqual([...(await store.lastTraffic()).keys()], [b.id]);
  });
}

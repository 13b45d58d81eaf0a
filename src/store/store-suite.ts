// The shared Store test suite: every Store implementation (SQLite, PostgreSQL) must pass it.
import { sleep } from '../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import { PlinthError } from '../domain/errors.ts';
import type { NewDeployment, Store } from './store.ts';

export function runStoreSuite(name: string, open: () => Promise<Store>): void {
  describe(`Store: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    const deploymentOf = (model_id: string, name = 'deployment-1'): NewDeployment => ({
      model_id,
      name,
      status: 'BUILDING',
      is_development: false,
      bundle_sha256: 'a'.repeat(64),
      config: { model_name: 'hello', runtime: { predict_concurrency: 2 } },
      instance_type_name: '1x2',
      autoscaling_settings: { ...DEFAULT_AUTOSCALING },
    });

    test('a model is created with its production environment and found by id or name', async () => {
      const model = await store.createModel('hello');
      assert.match(model.id, /^m[a-z2-7]{7}$/);
      assert.deepEqual(await store.getModel(model.id), model);
      assert.deepEqual(await store.getModel('hello'), model);
      assert.equal(await store.getModel('nope'), undefined);
      const envs = await store.listEnvironments(model.id);
      assert.deepEqual(
        envs.map((e) => [e.name, e.current_deployment_id]),
        [['production', null]],
      );
      assert.deepEqual(envs[0]!.autoscaling_settings, DEFAULT_AUTOSCALING);
      await assert.rejects(store.createModel('hello'));
    });

    test('deployments round-trip, update and list by filter', async () => {
      const model = await store.createModel('hello');
      const d = await store.createDeployment(deploymentOf(model.id));
      assert.equal(d.status, 'BUILDING');
      assert.deepEqual(await store.getDeployment(d.id), d);
      const updated = await store.updateDeployment(d.id, { desired_replicas: 1, has_served: true });
      assert.equal(updated.status, 'BUILDING');
      assert.equal(updated.desired_replicas, 1);
      assert.equal(updated.has_served, true);
      assert.deepEqual(updated.config, d.config);
      const patched = await store.updateDeployment(d.id, {
        bundle_sha256: 'f'.repeat(64),
        config: { model_name: 'hello', x: 1 },
      });
      assert.equal(patched.bundle_sha256, 'f'.repeat(64));
      assert.deepEqual((await store.getDeployment(d.id))?.config, { model_name: 'hello', x: 1 });
      assert.equal(patched.has_served, true, 'fields not in the patch are kept');
      await store.transition(d.id, { from: 'BUILDING', to: 'DEPLOYING', reason: 'built' });
      await store.transition(d.id, { from: 'DEPLOYING', to: 'ACTIVE', reason: 'ready' });
      const second = await store.createDeployment(deploymentOf(model.id, 'deployment-2'));
      assert.deepEqual(
        (await store.listDeployments({ model_id: model.id })).map((x) => x.id),
        [d.id, second.id],
      );
      assert.deepEqual(
        (await store.listDeployments({ statuses: ['ACTIVE'] })).map((x) => x.id),
        [d.id],
      );
      await assert.rejects(store.createDeployment(deploymentOf(model.id, 'deployment-2')), (err: unknown) => {
        return err instanceof PlinthError && err.code === 'CONFLICT';
      });
      await assert.rejects(store.updateDeployment('dmissing', { desired_replicas: 1 }), /not found/);
    });

    test('a status move is compare-and-set: applied with its event, or refused with nothing written', async () => {
      const model = await store.createModel('hello');
      const d = await store.createDeployment(deploymentOf(model.id));
      const built = await store.transition(d.id, {
        from: 'BUILDING',
        to: 'DEPLOYING',
        reason: 'build finished',
        patch: { desired_replicas: 2 },
      });
      assert.ok(built.moved);
      assert.equal(built.deployment.status, 'DEPLOYING');
      assert.equal(built.deployment.status_reason, 'build finished');
      assert.equal(built.deployment.desired_replicas, 2, 'the patch is written with the move');
      assert.deepEqual(
        (await store.listEvents(d.id)).map((e) => [e.from_status, e.to_status, e.reason]),
        [['BUILDING', 'DEPLOYING', 'build finished']],
      );

      const stale = await store.transition(d.id, { from: 'BUILDING', to: 'BUILD_FAILED', reason: 'late' });
      assert.equal(stale.moved, false);
      assert.equal(!stale.moved && stale.refusal, 'STALE');
      assert.equal(!stale.moved && stale.current?.status, 'DEPLOYING');

      const illegal = await store.transition(d.id, { from: 'DEPLOYING', to: 'BUILDING', reason: 'no' });
      assert.equal(!illegal.moved && illegal.refusal, 'ILLEGAL');
      const after = (await store.getDeployment(d.id))!;
      assert.equal(after.status, 'DEPLOYING');
      assert.equal(after.status_reason, 'build finished', 'a refused move writes nothing');
      assert.equal((await store.listEvents(d.id)).length, 1, 'and records no event');

      const note = await store.transition(d.id, {
        from: 'DEPLOYING',
        to: 'DEPLOYING',
        reason: 'waiting for capacity',
      });
      assert.ok(note.moved, 'a same-status move updates the reason');
      assert.equal((await store.getDeployment(d.id))!.status_reason, 'waiting for capacity');
      assert.equal((await store.listEvents(d.id)).length, 1, 'without an event');

      const missing = await store.transition('dmissing', {
        from: 'ACTIVE',
        to: 'SCALED_TO_ZERO',
        reason: 'idle',
      });
      assert.equal(!missing.moved && missing.refusal, 'NOT_FOUND');
    });

    test('a revision moves by compare-and-set, with what the new revision runs', async () => {
      const model = await store.createModel('hello');
      const d = await store.createDeployment(deploymentOf(model.id));
      assert.equal(d.revision, 0);
      assert.equal(d.build, null);
      const build = {
        language: 'python' as const,
        modelFile: 'model/model.py',
        envDir: '/envs/x',
        appDir: '/apps/1',
        builtAt: '2026-01-01T00:00:00.000Z',
      };
      const bumped = await store.revise(d.id, {
        from: 0,
        to: 1,
        patch: { build, bundle_sha256: 'c'.repeat(64) },
      });
      assert.ok(bumped.revised);
      assert.equal(bumped.deployment.revision, 1);
      assert.deepEqual((await store.getDeployment(d.id))!.build, build, 'the build round-trips');
      const stale = await store.revise(d.id, { from: 0, to: 1, patch: { instance_type_name: '4x16' } });
      assert.equal(stale.revised, false, 'a bump from a revision it no longer has is refused');
      const after = (await store.getDeployment(d.id))!;
      assert.equal(after.instance_type_name, '1x2', 'nothing written');
      assert.equal(after.bundle_sha256, 'c'.repeat(64));
      const reverted = await store.revise(d.id, { from: 1, to: 0, patch: { build: null } });
      assert.ok(reverted.revised);
      assert.equal(reverted.deployment.build, null);
    });

    test('of two writers moving from the same status, exactly one wins', async () => {
      const model = await store.createModel('hello');
      const d = await store.createDeployment(deploymentOf(model.id));
      await store.transition(d.id, { from: 'BUILDING', to: 'DEPLOYING', reason: 'built' });
      await store.transition(d.id, { from: 'DEPLOYING', to: 'ACTIVE', reason: 'ready' });
      await store.transition(d.id, { from: 'ACTIVE', to: 'SCALED_TO_ZERO', reason: 'idle' });
      // A wake and a deactivate that both read SCALED_TO_ZERO.
      const [wake, deactivate] = await Promise.all([
        store.transition(d.id, { from: 'SCALED_TO_ZERO', to: 'WAKING_UP', reason: 'a request' }),
        store.transition(d.id, { from: 'SCALED_TO_ZERO', to: 'DEACTIVATING', reason: 'deactivated' }),
      ]);
      assert.equal([wake, deactivate].filter((o) => o.moved).length, 1);
      const winner = wake.moved ? 'WAKING_UP' : 'DEACTIVATING';
      assert.equal((await store.getDeployment(d.id))!.status, winner);
      assert.equal(
        (await store.listEvents(d.id)).filter((e) => e.from_status === 'SCALED_TO_ZERO').length,
        1,
      );
    });

    test('a transaction that throws leaves nothing behind', async () => {
      const model = await store.createModel('hello');
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.createDeployment(deploymentOf(model.id));
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(await store.listDeployments({ model_id: model.id }), []);
    });

    test('environments point at deployments; deleting a deployment clears the pointer', async () => {
      const model = await store.createModel('hello');
      const d = await store.createDeployment(deploymentOf(model.id));
      const prod = (await store.getEnvironment(model.id, 'production'))!;
      const moved = await store.updateEnvironment(prod.id, { current_deployment_id: d.id });
      assert.equal(moved.current_deployment_id, d.id);
      const staging = await store.createEnvironment(model.id, 'staging');
      assert.equal(staging.name, 'staging');
      await assert.rejects(store.createEnvironment(model.id, 'staging'), /already exists/);
      await store.recordEvent({
        model_id: model.id,
        deployment_id: d.id,
        time: new Date().toISOString(),
        from_status: null,
        to_status: 'BUILDING',
        reason: 'pushed',
      });
      await store.deleteDeployment(d.id);
      assert.equal((await store.getEnvironment(model.id, 'production'))!.current_deployment_id, null);
      assert.equal(await store.getDeployment(d.id), undefined);
    });

    test('events, replicas and logs are recorded in order and queried', async () => {
      const model = await store.createModel('hello');
      const d = await store.createDeployment(deploymentOf(model.id));
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
        (await store.listReplicas({ deployment_id: d.id, live: true })).map((r) => [
          r.id,
          r.status,
          r.address,
        ]),
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
      const model = await store.createModel('hello');
      const d = await store.createDeployment(deploymentOf(model.id));
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
      };
      const first = await store.createPromotion({ ...base, started_at: '2026-01-01T00:00:00.000Z' });
      const second = await store.createPromotion({ ...base, started_at: '2026-01-01T00:00:01.000Z' });
      const done = await store.updatePromotion(first.id, {
        status: 'SUCCEEDED',
        phase: 'DONE',
        traffic_percent: 100,
      });
      assert.equal(done.status, 'SUCCEEDED');
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
      const key = await store.createApiKey({ name: 'admin', prefix: 'plk_abc', hash: 'h1', scope: 'admin' });
      assert.equal((await store.findApiKeyByHash('h1'))?.id, key.id);
      assert.equal(await store.findApiKeyByHash('h2'), undefined);
      await store.revokeApiKey(key.id);
      assert.equal(await store.findApiKeyByHash('h1'), undefined);
      assert.ok((await store.listApiKeys())[0]!.revoked_at);
      await assert.rejects(store.revokeApiKey(key.id), /not found/);
    });

    test('secrets are stored by name, replaced keeping their creation time, listed without values and deleted', async () => {
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

    test('deleting a model removes everything under it', async () => {
      const model = await store.createModel('hello');
      const d = await store.createDeployment(deploymentOf(model.id));
      await store.appendLogs([
        {
          time: new Date().toISOString(),
          model_id: model.id,
          deployment_id: d.id,
          replica_id: null,
          source: 'build',
          level: 'INFO',
          message: 'x',
          request_id: null,
        },
      ]);
      await store.deleteModel(model.id);
      assert.equal(await store.getModel(model.id), undefined);
      assert.deepEqual(await store.listDeployments(), []);
      assert.deepEqual(await store.queryLogs({ model_id: model.id }), []);
      assert.deepEqual(await store.listEnvironments(model.id), []);
    });
  });
}

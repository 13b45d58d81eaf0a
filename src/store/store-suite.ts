// The shared Store test suite: every Store implementation (SQLite, PostgreSQL) must pass it.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import { PlinthError } from '../domain/errors.ts';
import { asyncCases } from './store-async-suite.ts';
import { recordCases, trafficCases } from './store-records-suite.ts';
import { webhookCases } from './store-webhooks-suite.ts';
import type { NewDeployment, Store } from './store.ts';

/** What the parts of the suite share: the store under test (a fresh one per test) and a deployment to create. */
export interface StoreSuiteContext {
  readonly store: Store;
  deploymentOf(model_id: string, name?: string): NewDeployment;
}

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

    test('model names may hold spaces and punctuation and are unique regardless of case', async () => {
      const model = await store.createModel('My Model v2');
      assert.deepEqual(await store.getModel('My Model v2'), model);
      // Found by exact name only; a differently cased name finds nothing …
      assert.equal(await store.getModel('my model V2'), undefined);
      // … and cannot be created beside it.
      await assert.rejects(store.createModel('my model V2'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CONFLICT');
        assert.match(err.message, /"my model V2" is taken by model "My Model v2"/);
        return true;
      });
      await assert.rejects(store.createModel('MY MODEL V2'), /unique regardless of case/);
      assert.equal(
        (await store.listModels()).filter((m) => m.name.toLowerCase() === 'my model v2').length,
        1,
      );
      // Once the model is deleted, its name is free again, in any case.
      await store.deleteModel(model.id);
      const again = await store.createModel('my model V2');
      assert.equal((await store.getModel('my model V2'))?.id, again.id);
      await store.deleteModel(again.id);
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
      await store.updateDeployment(d.id, {
        build: {
          language: 'typescript',
          modelFile: 'model/model.ts',
          envDir: '/e',
          appDir: '/a',
          builtAt: '',
        },
      });
      assert.deepEqual(
        (await store.listDeployments({ model_id: model.id, unbuilt: true })).map((x) => x.id),
        [second.id],
        'only those with no build recorded',
      );
      assert.deepEqual(
        (await store.listDeployments({ ids: [second.id, 'dmissing'] })).map((x) => x.id),
        [second.id],
      );
      assert.deepEqual(await store.listDeployments({ ids: [] }), []);
      assert.deepEqual(
        (await store.listDeploymentStatuses()).sort((a, b) => (a.id < b.id ? -1 : 1)),
        [
          { id: d.id, status: 'ACTIVE' },
          { id: second.id, status: 'BUILDING' },
        ].sort((a, b) => (a.id < b.id ? -1 : 1)),
      );
      // At rest (at zero, inactive, failed) and wanting no replica: not awake.
      await store.transition(d.id, {
        from: 'ACTIVE',
        to: 'SCALED_TO_ZERO',
        reason: 'idle',
        patch: { desired_replicas: 0 },
      });
      const failed = await store.createDeployment({ ...deploymentOf(model.id, 'deployment-3') });
      await store.transition(failed.id, { from: 'BUILDING', to: 'BUILD_FAILED', reason: 'no' });
      const awake = async () => (await store.listDeployments({ awake: true })).map((x) => x.id);
      assert.deepEqual(await awake(), [second.id], 'BUILDING is awake');
      await store.updateDeployment(d.id, { desired_replicas: 1 });
      assert.deepEqual(await awake(), [d.id, second.id], 'at rest but wanting a replica: awake');
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

    test('models list oldest first, whole or a page after a given model', async () => {
      const made = [];
      for (const name of ['a', 'b', 'c', 'd', 'e']) made.push(await store.createModel(name));
      // Oldest first; models made in the same millisecond by id.
      made.sort((x, y) =>
        x.created_at === y.created_at ? (x.id < y.id ? -1 : 1) : x.created_at < y.created_at ? -1 : 1,
      );
      const ids = (list: { id: string }[]) => list.map((m) => m.id);
      assert.deepEqual(ids(await store.listModels()), ids(made));
      assert.deepEqual(ids(await store.listModels({ limit: 2 })), ids(made.slice(0, 2)));
      assert.deepEqual(ids(await store.listModels({ limit: 2, after: made[1]! })), ids(made.slice(2, 4)));
      assert.deepEqual(ids(await store.listModels({ after: made[3]! })), ids(made.slice(4)));
      assert.deepEqual(await store.listModels({ after: made[4]! }), []);
      assert.deepEqual(ids(await store.listModels({ ids: [made[3]!.id, made[1]!.id, 'mmissing'] })), [
        made[1]!.id,
        made[3]!.id,
      ]);
      assert.deepEqual(await store.listModels({ ids: [] }), []);
      // Models made in the same millisecond page by id: none is skipped.
      const beforeFirst = { created_at: made[0]!.created_at, id: '' };
      assert.deepEqual(ids(await store.listModels({ after: beforeFirst })), ids(made));
    });

    test("many models' environments and deployment counts are read in one query each", async () => {
      const one = await store.createModel('one');
      const two = await store.createModel('two');
      const none = await store.createModel('none');
      await store.createEnvironment(one.id, 'staging');
      await store.createDeployment(deploymentOf(one.id, 'deployment-1'));
      await store.createDeployment(deploymentOf(one.id, 'deployment-2'));
      const dev = await store.createDeployment({
        ...deploymentOf(one.id, 'development'),
        is_development: true,
      });
      await store.createDeployment(deploymentOf(two.id, 'deployment-1'));

      const envs = await store.listEnvironmentsOf([one.id, two.id]);
      assert.deepEqual(
        envs.filter((e) => e.model_id === one.id).map((e) => e.name),
        ['production', 'staging'],
      );
      assert.deepEqual(
        envs.filter((e) => e.model_id === two.id).map((e) => e.name),
        ['production'],
      );
      assert.equal(envs.filter((e) => e.model_id === none.id).length, 0, 'only the models asked for');
      assert.equal((await store.listEnvironmentsOf()).length, 4, 'every model when none are named');
      assert.deepEqual(await store.listEnvironmentsOf([]), []);
      assert.deepEqual(
        envs.find((e) => e.model_id === one.id),
        (await store.listEnvironments(one.id))[0],
      );

      const counts = await store.countDeployments([one.id, two.id, none.id]);
      assert.deepEqual(counts.get(one.id), {
        model_id: one.id,
        deployments_count: 3,
        development_deployment_id: dev.id,
      });
      assert.deepEqual(counts.get(two.id), {
        model_id: two.id,
        deployments_count: 1,
        development_deployment_id: null,
      });
      assert.equal(counts.get(none.id), undefined, 'a model without deployments has no row');
      assert.equal((await store.countDeployments()).size, 2);
      assert.equal((await store.countDeployments([two.id])).size, 1);
    });

    const context: StoreSuiteContext = {
      get store() {
        return store;
      },
      deploymentOf,
    };
    recordCases(context);
    trafficCases(context);
    asyncCases(context);
    webhookCases(context);

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

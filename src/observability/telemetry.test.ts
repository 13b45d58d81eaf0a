// What telemetry samples each second and each scrape reads: every deployment that may have
// replicas, with its model and the environments it serves, in three store calls however many
// models there are; calls made while one is under way share it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countingStore } from '../../test/support/counting-store.ts';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { ScriptedBackend } from '../../test/support/scripted-backend.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { Telemetry } from './telemetry.ts';

test('a snapshot reads models, deployments and environments in three store calls, shared by callers meanwhile', async () => {
  const real = await openSqliteStore(':memory:');
  const backend = new ScriptedBackend();
  const expected = new Map<string, string[]>();
  for (let i = 0; i < 30; i++) {
    const model = await real.createModel(`model-${i}`);
    const served = await real.createDeployment(deploymentInput(model.id, { status: 'SCALED_TO_ZERO' }));
    const production = (await real.getEnvironment(model.id, 'production'))!;
    await real.updateEnvironment(production.id, { current_deployment_id: served.id });
    expected.set(served.id, ['production']);
    if (i % 10 === 0) {
      const staging = await real.createEnvironment(model.id, 'staging');
      await real.updateEnvironment(staging.id, { current_deployment_id: served.id });
      expected.set(served.id, ['production', 'staging']);
    }
    // Failed and inactive deployments have no replicas: not sampled.
    await real.createDeployment(deploymentInput(model.id, { name: 'deployment-2', status: 'BUILD_FAILED' }));
    if (i === 3) {
      const live = await real.createDeployment(deploymentInput(model.id, { name: 'live', status: 'ACTIVE' }));
      backend.ready.set(live.id, 2);
      expected.set(live.id, []);
    }
  }
  const { store, calls } = countingStore(real);
  const telemetry = new Telemetry({ store, backend, concurrency: (id) => (backend.ready.has(id) ? 5 : 0) });
  const [first, second] = await Promise.all([telemetry.snapshot(), telemetry.snapshot()]);
  assert.equal(first, second, 'the second caller shares the first one’s reading');
  assert.deepEqual(calls.sort(), ['listDeployments', 'listEnvironmentsOf', 'listModels']);
  assert.deepEqual(new Map(first!.map((s) => [s.deployment.id, [...s.environments].sort()])), expected);
  const live = first!.find((s) => s.deployment.name === 'live')!;
  assert.equal(live.model.name, 'model-3');
  assert.equal(live.concurrency, 5);
  assert.deepEqual(
    live.replicas.map((r) => r.phase),
    ['READY', 'READY'],
  );
  await telemetry.snapshot();
  assert.equal(calls.length, 6, 'a later call reads again');
  await real.close();
});

test("each second's sample reads only deployments not at rest, and those at rest whose replicas still run", async () => {
  const real = await openSqliteStore(':memory:');
  const backend = new ScriptedBackend();
  let draining = '';
  for (let i = 0; i < 20; i++) {
    const model = await real.createModel(`model-${i}`);
    const d = await real.createDeployment(deploymentInput(model.id, { status: 'SCALED_TO_ZERO' }));
    if (i === 7) {
      // Taken to zero while its replica drains.
      backend.ready.set(d.id, 1);
      draining = d.id;
    }
    if (i === 9) {
      const live = await real.createDeployment(deploymentInput(model.id, { name: 'live', status: 'ACTIVE' }));
      backend.ready.set(live.id, 1);
    }
  }
  const read: string[] = [];
  const store = {
    ...real,
    listDeployments: async (filter?: Parameters<typeof real.listDeployments>[0]) => {
      const found = await real.listDeployments(filter);
      read.push(...found.map((d) => d.id));
      return found;
    },
  };
  const telemetry = new Telemetry({ store, backend, concurrency: () => 0 });
  const awake = await telemetry.awakeSnapshot();
  assert.deepEqual(awake.map((s) => `${s.model.name}/${s.deployment.name}`).sort(), [
    'model-7/deployment-1',
    'model-9/live',
  ]);
  assert.equal(read.length, 2, 'the eighteen idle deployments are never read');
  assert.ok(read.includes(draining));
  assert.equal((await telemetry.snapshot()).length, 21, 'a scrape still reports every deployment');
  await real.close();
});

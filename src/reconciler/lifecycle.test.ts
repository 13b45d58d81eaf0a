// Lifecycle commands over a real SQLite store: status changes are compare-and-set, so a command
// acting on a deployment it read before another writer moved it never undoes that writer's move.
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { packDirectory } from '../bundle/pack.ts';
import { join } from 'node:path';
import { beforeEach, test } from 'node:test';
import { ScriptedBackend } from '../../test/support/scripted-backend.ts';
import { ArtifactStore } from '../bundle/artifact-store.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import { BUILT_IN_INSTANCE_TYPES } from '../domain/instance-types.ts';
import type { Deployment } from '../domain/types.ts';
import { plinthHome } from '../home.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { StatusRecorder } from '../store/status-recorder.ts';
import type { Store } from '../store/store.ts';
import { ReplicaStopper } from './replica-stopper.ts';
import { Lifecycle, wakeFromZero } from './lifecycle.ts';

const root = scratchDir('lifecycle');

let store: Store;
let status: StatusRecorder;
let lifecycle: Lifecycle;
let kicks: number;
let makeLifecycle: (over: Store) => Lifecycle;
let artifacts: ArtifactStore;

beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  status = new StatusRecorder(store);
  const home = plinthHome(mkdtempSync(join(root, 'home-')));
  kicks = 0;
  artifacts = new ArtifactStore(home.bundles);
  makeLifecycle = (over) =>
    new Lifecycle({
      store: over,
      artifacts,
      home,
      stopper: new ReplicaStopper({
        backend: new ScriptedBackend(),
        drainer: { drained: async () => {} },
        drainMs: 0,
      }),
      status,
      kick: () => kicks++,
      resetFailures: () => {},
      instanceTypes: BUILT_IN_INSTANCE_TYPES,
    });
  lifecycle = makeLifecycle(store);
});

/** A deployment walked through the table to `path`'s last status. */
async function deploymentAt(...path: DeploymentStatus[]): Promise<Deployment> {
  const model = await store.createModel(`m${Math.random().toString(36).slice(2, 8)}`);
  let d = await store.createDeployment(deploymentInput(model.id));
  for (const to of path) {
    const outcome = await status.move(d, to, `to ${to}`);
    assert.ok(outcome.moved, `${d.status} → ${to}`);
    d = outcome.deployment;
  }
  return d;
}

test('a wake that read the deployment before a deactivate does not undo the deactivate', async () => {
  const atZero = await deploymentAt('DEPLOYING', 'ACTIVE', 'SCALED_TO_ZERO');
  await lifecycle.deactivate(atZero);
  const woken = await lifecycle.wake(atZero); // still holds the SCALED_TO_ZERO it read
  assert.equal(woken.status, 'DEACTIVATING');
  const stored = (await store.getDeployment(atZero.id))!;
  assert.equal(stored.status, 'DEACTIVATING');
  assert.equal(stored.desired_replicas, 0, 'no replica asked for');
  assert.equal((await wakeFromZero(status, atZero)).moved, false, "the gateway's wake is refused too");
});

test('a deactivate that read the deployment before a wake deactivates what the wake made', async () => {
  const atZero = await deploymentAt('DEPLOYING', 'ACTIVE', 'SCALED_TO_ZERO');
  await lifecycle.wake(atZero);
  const out = await lifecycle.deactivate(atZero);
  assert.equal(out.status, 'DEACTIVATING');
  assert.deepEqual(
    (await store.listEvents(atZero.id)).slice(-2).map((e) => `${e.from_status}→${e.to_status}`),
    ['SCALED_TO_ZERO→WAKING_UP', 'WAKING_UP→DEACTIVATING'],
  );
});

test('scaling to zero a deployment that moved meanwhile writes nothing', async () => {
  const active = await deploymentAt('DEPLOYING', 'ACTIVE');
  await lifecycle.deactivate(active);
  await lifecycle.scaleToZero(active, 'idle'); // the autoscaler read ACTIVE
  assert.equal((await store.getDeployment(active.id))!.status, 'DEACTIVATING');
});

test('activate, retry and their refusals follow the table', async () => {
  const inactive = await deploymentAt('DEPLOYING', 'ACTIVE', 'DEACTIVATING', 'INACTIVE');
  assert.equal((await lifecycle.activate(inactive)).status, 'DEPLOYING');
  const failed = await deploymentAt('DEPLOYING', 'DEPLOY_FAILED');
  await assert.rejects(lifecycle.activate(failed), /retry it instead/);
  assert.equal((await lifecycle.retry(failed)).status, 'DEPLOYING');
  const active = await deploymentAt('DEPLOYING', 'ACTIVE');
  await assert.rejects(lifecycle.retry(active), /only a failed deployment can be retried/);
  assert.ok(kicks >= 2, 'each applied move wakes the control loops');
});

test('a push that loses the race to create its new model (a unique conflict) joins the model the racer made', async () => {
  const dir = mkdtempSync(join(root, 'bundle-'));
  writeFileSync(join(dir, 'config.yaml'), 'model_name: Raced Model\n');
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'model.ts'), 'export class Model { predict() { return 1; } }\n');
  const packed = await packDirectory(dir);
  artifacts.put(packed.sha256, packed.bytes);
  // The racer's insert lands between this push's read and its own insert: a real unique conflict.
  let raced = false;
  const racing = new Proxy(store, {
    get(target, key, receiver) {
      if (key !== 'transaction') return Reflect.get(target, key, receiver) as unknown;
      return <T>(work: (tx: Store) => Promise<T>) =>
        target.transaction((tx) =>
          work(
            new Proxy(tx, {
              get(t, k, r) {
                if (k !== 'createModel' || raced) return Reflect.get(t, k, r) as unknown;
                raced = true;
                return async (name: string) => {
                  await t.createModel(name);
                  return t.createModel(name);
                };
              },
            }),
          ),
        );
    },
  });
  const created = await makeLifecycle(racing).createDeployment({
    modelName: 'Raced Model',
    bundleSha256: packed.sha256,
  });
  assert.ok(raced, 'the conflict happened');
  assert.equal(created.model.name, 'Raced Model');
  assert.equal(created.deployment.name, 'deployment-1');
  const models = (await store.listModels()).filter((m) => m.name === 'Raced Model');
  assert.equal(models.length, 1);
});

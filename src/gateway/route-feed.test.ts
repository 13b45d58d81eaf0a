// A gateway that runs no replicas follows deployments from the store: one deleted elsewhere is
// forgotten here too (its status, its routes), so that nothing it keeps only grows.
import { deploymentInput } from '../../test/support/deployment-input.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import type { ChangeTopic } from '../store/postgres/change-feed.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { failingStore } from '../../test/support/failing-store.ts';
import { sleep, until } from '../../test/support/wait.ts';
import { Gateway } from './gateway.ts';
import { RouteFeed } from './route-feed.ts';

test('deployments deleted in another process leave the route feed and the gateway', async () => {
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store);
  const feed = new RouteFeed(store, gateway, { replicas: true, onDeployment: () => {} });
  const model = await store.createModel('m');
  const ids: string[] = [];
  for (const name of ['deployment-1', 'deployment-2', 'deployment-3']) {
    const d = await store.createDeployment(deploymentInput(model.id, { name }));
    await store.upsertReplica({
      id: `r-${name}`,
      deployment_id: d.id,
      status: 'READY',
      address: '127.0.0.1:1',
      started_at: new Date().toISOString(),
      stopped_at: null,
      exit_reason: null,
      revision: 0,
    });
    ids.push(d.id);
  }
  await feed.refresh(new Set(['*']));
  assert.equal(feed.size, 3);
  assert.equal(gateway.bookkeeping().ready, 3);
  for (const id of ids) await store.deleteDeployment(id);
  await feed.refresh(new Set(['*']));
  assert.equal(feed.size, 0, 'their statuses are not kept');
  assert.equal(gateway.bookkeeping().ready, 0, 'nor their routes');
  await gateway.close();
  await store.close();
});

test('a read that fails (the store is unreachable) is tried again soon, not only at the next periodic read', async () => {
  const inner = await openSqliteStore(':memory:');
  const failing = failingStore(inner);
  const gateway = new Gateway(inner);
  const feed = new RouteFeed(failing.store, gateway, { replicas: true, onDeployment: () => {} });
  let notice!: (topic: ChangeTopic) => void;
  await feed.start((listener) => (notice = listener), 60_000);
  try {
    failing.down = true;
    // Another process promotes, or starts a replica, while this one cannot read the store.
    const model = await inner.createModel('m');
    const d = await inner.createDeployment({
      model_id: model.id,
      name: 'deployment-1',
      status: 'ACTIVE',
      is_development: false,
      bundle_sha256: 'b'.repeat(64),
      config: {},
      instance_type_name: '1x2',
      autoscaling_settings: { ...DEFAULT_AUTOSCALING },
    });
    await inner.upsertReplica({
      id: 'r-1',
      deployment_id: d.id,
      status: 'READY',
      address: '127.0.0.1:1',
      started_at: new Date().toISOString(),
      stopped_at: null,
      exit_reason: null,
      revision: 0,
    });
    notice('*'); // the notice arrives, the read fails
    await sleep(100);
    assert.equal(gateway.bookkeeping().ready, 0);
    failing.down = false;
    await until(
      'the routes read once the store answers',
      () => gateway.bookkeeping().ready,
      (n) => n === 1,
      2000,
      20,
    );
  } finally {
    feed.stop();
    await gateway.close();
    await inner.close();
  }
});

test('a status changed in another process is announced with its record; the deployments that did not change are not read whole', async () => {
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store);
  const announced: [string, string, string][] = [];
  const wholeReads: string[] = [];
  let failWholeReads = false;
  const reading = {
    ...store,
    listDeployments: async (filter?: Parameters<typeof store.listDeployments>[0]) => {
      if (failWholeReads) throw new Error('the store is unreachable');
      const found = await store.listDeployments(filter);
      wholeReads.push(...found.map((d) => d.name));
      return found;
    },
  };
  const feed = new RouteFeed(reading, gateway, {
    replicas: false,
    onDeployment: (d, from) => void announced.push([d.name, from, d.status]),
  });
  const model = await store.createModel('m');
  const made = [];
  for (let i = 0; i < 50; i++)
    made.push(await store.createDeployment(deploymentInput(model.id, { name: `deployment-${i}` })));
  await feed.refresh(new Set(['*']));
  assert.equal(feed.size, 50);
  assert.deepEqual(wholeReads, [], 'statuses alone are read');
  await store.transition(made[7]!.id, { from: 'BUILDING', to: 'DEPLOYING', reason: 'built' });
  await feed.refresh(new Set(['deployments']));
  assert.deepEqual(announced, [['deployment-7', 'BUILDING', 'DEPLOYING']]);
  assert.deepEqual(wholeReads, ['deployment-7'], 'only the one that changed is read whole');
  // A change whose record cannot be read (the store fails between the two reads) is not lost.
  await store.transition(made[8]!.id, { from: 'BUILDING', to: 'DEPLOYING', reason: 'built' });
  failWholeReads = true;
  await feed.refresh(new Set(['deployments'])).catch(() => undefined);
  failWholeReads = false;
  await feed.refresh(new Set(['deployments']));
  assert.deepEqual(announced.at(-1), ['deployment-8', 'BUILDING', 'DEPLOYING'], 'announced by the retry');
  await gateway.close();
  await store.close();
});

// A gateway that runs no replicas follows deployments from the store: one deleted elsewhere is
// forgotten here too (its status, its routes), so that nothing it keeps only grows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { Gateway } from './gateway.ts';
import { RouteFeed } from './route-feed.ts';

test('deployments deleted in another process leave the route feed and the gateway', async () => {
  const store = await openSqliteStore(':memory:');
  const gateway = new Gateway(store);
  const feed = new RouteFeed(store, gateway, { replicas: true, onDeployment: () => {} });
  const model = await store.createModel('m');
  const ids: string[] = [];
  for (const name of ['deployment-1', 'deployment-2', 'deployment-3']) {
    const d = await store.createDeployment({
      model_id: model.id,
      name,
      status: 'BUILDING',
      is_development: false,
      bundle_sha256: 'b'.repeat(64),
      config: {},
      instance_type_name: '1x2',
      autoscaling_settings: { ...DEFAULT_AUTOSCALING },
    });
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

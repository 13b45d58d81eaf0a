// GET …/environments/{e}/logs answers the logs of the deployment the environment serves, and of
// a promotion's candidate while the promotion is in progress, in the deployment route's shape
// (each record naming its deployment); the deployment route answers as it always has.
import { promotionRecord } from '../../../test/support/promotion-record.ts';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { openSqliteStore } from '../../store/sqlite/open.ts';
import type { Store } from '../../store/store.ts';
import type { Deployment, Environment, Model } from '../../domain/types.ts';
import { deploymentInput } from '../../../test/support/deployment-input.ts';
import { logRoutes } from './logs.ts';

let store: Store;
let app: FastifyInstance;
let model: Model;
let production: Environment;
let current: Deployment;
let candidate: Deployment;
let other: Deployment;

async function log(
  d: Deployment,
  message: string,
  extra: { level?: 'INFO' | 'ERROR'; request_id?: string } = {},
) {
  await store.appendLogs([
    {
      time: new Date().toISOString(),
      model_id: d.model_id,
      deployment_id: d.id,
      replica_id: null,
      source: 'replica',
      level: extra.level ?? 'INFO',
      message,
      request_id: extra.request_id ?? null,
    },
  ]);
}

async function get(path: string) {
  const res = await app.inject({ method: 'GET', url: path });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { logs: { message: string; deployment_id?: string }[] }).logs;
}

before(async () => {
  store = await openSqliteStore(':memory:');
  model = await store.createModel('logged');
  current = await store.createDeployment(
    deploymentInput(model.id, { name: 'deployment-1', status: 'ACTIVE' }),
  );
  candidate = await store.createDeployment(
    deploymentInput(model.id, { name: 'deployment-2', status: 'ACTIVE' }),
  );
  other = await store.createDeployment(deploymentInput(model.id, { name: 'deployment-3', status: 'ACTIVE' }));
  production = (await store.getEnvironment(model.id, 'production'))!;
  production = await store.updateEnvironment(production.id, { current_deployment_id: current.id });
  app = Fastify();
  logRoutes(app, { store });
  await log(current, 'current one');
  await log(other, 'serves no environment');
  await log(candidate, 'candidate one', { level: 'ERROR', request_id: 'r-2' });
  await log(current, 'current two', { request_id: 'r-2' });
});
after(async () => {
  await app.close();
  await store.close();
});

test("an environment's logs are its current deployment's, each naming it", async () => {
  const logs = await get(`/v1/models/logged/environments/production/logs`);
  assert.deepEqual(
    logs.map((l) => [l.message, l.deployment_id]),
    [
      ['current one', current.id],
      ['current two', current.id],
    ],
  );
  const byDeployment = await get(`/v1/models/logged/deployments/${current.id}/logs`);
  assert.deepEqual(
    byDeployment.map((l) => l.message),
    ['current one', 'current two'],
  );
  assert.ok(!('deployment_id' in byDeployment[0]!), "the deployment route's records are as they were");
});

test("while a promotion is in progress the candidate's logs are there too, in order, with the same filters", async () => {
  const promotion = await store.createPromotion(
    promotionRecord({
      model_id: model.id,
      environment_id: production.id,
      from_deployment_id: current.id,
      to_deployment_id: candidate.id,
      phase: 'RAMPING',
      traffic_percent: 10,
      ramp_up_duration_seconds: 60,
    }),
  );
  const base = '/v1/models/logged/environments/production/logs';
  assert.deepEqual(
    (await get(base)).map((l) => [l.message, l.deployment_id]),
    [
      ['current one', current.id],
      ['candidate one', candidate.id],
      ['current two', current.id],
    ],
  );
  assert.deepEqual(
    (await get(`${base}?request_id=r-2`)).map((l) => l.message),
    ['candidate one', 'current two'],
  );
  assert.deepEqual(
    (await get(`${base}?level=ERROR`)).map((l) => l.message),
    ['candidate one'],
  );
  assert.deepEqual(
    (await get(`${base}?limit=2`)).map((l) => l.message),
    ['current one', 'candidate one'],
    'the oldest two of both',
  );
  assert.deepEqual(
    (await get(`${base}?limit=2&newest=true`)).map((l) => l.message),
    ['candidate one', 'current two'],
    'the newest two of both',
  );

  // Once it is done, the environment serves the candidate alone.
  await store.updatePromotion(promotion.id, { status: 'SUCCEEDED', phase: 'DONE', traffic_percent: 100 });
  await store.updateEnvironment(production.id, { current_deployment_id: candidate.id });
  assert.deepEqual(
    (await get(base)).map((l) => l.message),
    ['candidate one'],
  );
});

test('an environment that serves nothing has no logs', async () => {
  await store.createEnvironment(model.id, 'staging');
  assert.deepEqual(await get('/v1/models/logged/environments/staging/logs'), []);
});

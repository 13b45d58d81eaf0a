// GET /v1/models answers every model (the pinned `{"models": […]}`) or a page of them
// (`?limit=&cursor=`) in a constant number of store calls, however many models there are; a
// model's deployments and environments list in pages too; a bad limit or cursor is a 400 naming it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { countingStore } from '../../../test/support/counting-store.ts';
import { deploymentInput } from '../../../test/support/deployment-input.ts';
import { errorBody, isPlinthError } from '../../domain/errors.ts';
import type { Model } from '../../domain/types.ts';
import { LocalBackend } from '../../runtime/local/local-backend.ts';
import { openSqliteStore } from '../../store/sqlite/open.ts';
import type { Store } from '../../store/store.ts';
import type { ApiContext } from '../context.ts';
import { makeUrlBuilder } from '../serialize.ts';
import { deploymentRoutes } from './deployments.ts';
import { environmentRoutes } from './environments.ts';
import { modelRoutes } from './models.ts';

const MODELS = 25;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-models-route-'));
let store: Store;
let app: FastifyInstance;
/** Store methods called since the last request, by name. */
let calls: string[] = [];
let models: Model[] = [];

interface ModelJson {
  id: string;
  name: string;
  deployments_count: number;
  production_deployment_id: string | null;
  development_deployment_id: string | null;
  environments: { name: string; current_deployment_id: string | null }[];
}
interface Answer {
  status: number;
  body: {
    models?: ModelJson[];
    deployments?: { id: string }[];
    environments?: { name: string }[];
    next_cursor?: string | null;
    error?: { code: string; message: string };
  };
}

async function get(url: string): Promise<Answer> {
  calls.length = 0;
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() };
}

/** Follows next_cursor from the first page of `path` to the last; answers every page's items. */
async function walk<K extends 'models' | 'deployments' | 'environments'>(
  path: string,
  key: K,
  limit: number,
) {
  const pages: NonNullable<Answer['body'][K]>[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `${path}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const { status, body } = await get(url);
    assert.equal(status, 200, JSON.stringify(body));
    pages.push(body[key]!);
    cursor = body.next_cursor ?? null;
  } while (cursor !== null);
  return pages;
}

before(async () => {
  const real = await openSqliteStore(':memory:');
  const counting = countingStore(real);
  store = counting.store;
  calls = counting.calls;
  for (let i = 0; i < MODELS; i++) models.push(await real.createModel(`model-${String(i).padStart(2, '0')}`));
  // Oldest first, as the list answers (models made in the same millisecond by id, so the first
  // need not be model-00: tests name models[0] rather than guess).
  models = await real.listModels();
  const first = models[0]!;
  const live = await real.createDeployment(deploymentInput(first.id, { name: 'deployment-1' }));
  await real.createDeployment(deploymentInput(first.id, { name: 'deployment-2' }));
  await real.createDeployment(deploymentInput(first.id, { name: 'development', is_development: true }));
  const production = (await real.getEnvironment(first.id, 'production'))!;
  await real.updateEnvironment(production.id, { current_deployment_id: live.id });
  for (const name of ['staging', 'canary', 'qa']) await real.createEnvironment(first.id, name);
  for (let i = 3; i <= 7; i++)
    await real.createDeployment(deploymentInput(first.id, { name: `deployment-${i}` }));

  app = Fastify();
  app.setErrorHandler((err, _req, reply) =>
    isPlinthError(err)
      ? reply.code(err.httpStatus).send(errorBody(err.code, err.message))
      : reply.code(500).send(errorBody('INTERNAL', String(err))),
  );
  const backend = new LocalBackend({ onLog: () => {}, runDir: join(scratch, 'run') });
  const ctx = { store, backend, urls: makeUrlBuilder(() => 'http://127.0.0.1:4780') };
  modelRoutes(app, ctx as unknown as ApiContext);
  deploymentRoutes(app, ctx as unknown as ApiContext);
  environmentRoutes(app, ctx as unknown as ApiContext);
});
after(async () => {
  await app.close();
  await store.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('without a limit every model is answered, with its environments and deployments, in three store calls', async () => {
  const { status, body } = await get('/v1/models');
  assert.equal(status, 200);
  assert.deepEqual(
    body.models!.map((m) => m.id),
    models.map((m) => m.id),
  );
  assert.equal(body.next_cursor, null);
  assert.deepEqual(calls.sort(), ['countDeployments', 'listEnvironmentsOf', 'listModels']);
  const first = body.models![0]!;
  assert.equal(first.deployments_count, 8);
  assert.match(first.development_deployment_id!, /^d/);
  assert.match(first.production_deployment_id!, /^d/);
  assert.deepEqual(first.environments.map((e) => e.name).sort(), ['canary', 'production', 'qa', 'staging']);
  const other = body.models![1]!;
  assert.deepEqual(
    [other.deployments_count, other.development_deployment_id, other.production_deployment_id],
    [0, null, null],
  );
  assert.deepEqual(other.environments, [{ name: 'production', current_deployment_id: null }]);
});

test('pages of models follow each other to the last, which has no next cursor; each page takes three store calls', async () => {
  const whole = (await get('/v1/models')).body.models!;
  const pages = await walk('/v1/models', 'models', 10);
  assert.deepEqual(
    pages.map((p) => p.length),
    [10, 10, 5],
  );
  assert.equal(calls.length, 3, 'the last page too');
  assert.deepEqual(pages.flat(), whole, 'the same models, the same JSON, in the same order');
  const exact = await walk('/v1/models', 'models', MODELS);
  assert.equal(exact.length, 1, 'a page that ends the list says so (no empty page after it)');
  const one = await get(`/v1/models/${whole[0]!.name}`);
  assert.deepEqual(one.body, whole[0], 'a model alone answers as it does in the list');
});

test("a model's deployments and environments list in pages too", async () => {
  const deployments = (await get(`/v1/models/${models[0]!.name}/deployments`)).body;
  assert.equal(deployments.deployments!.length, 8);
  assert.equal(deployments.next_cursor, null);
  const pages = await walk(`/v1/models/${models[0]!.name}/deployments`, 'deployments', 3);
  assert.deepEqual(
    pages.map((p) => p.length),
    [3, 3, 2],
  );
  assert.deepEqual(
    pages.flat().map((d) => d.id),
    deployments.deployments!.map((d) => d.id),
  );
  const environments = (await get(`/v1/models/${models[0]!.name}/environments`)).body.environments!;
  const envPages = await walk(`/v1/models/${models[0]!.name}/environments`, 'environments', 3);
  assert.deepEqual(
    envPages.map((p) => p.length),
    [3, 1],
  );
  assert.deepEqual(
    envPages
      .flat()
      .map((e) => e.name)
      .sort(),
    environments.map((e) => e.name).sort(),
  );
});

test('a bad limit or cursor is a 400 VALIDATION_ERROR naming the field', async () => {
  for (const limit of ['0', '1001', 'ten', '2.5', '-1', '']) {
    for (const path of [
      '/v1/models',
      '/v1/models/model-00/deployments',
      '/v1/models/model-00/environments',
    ]) {
      const { status, body } = await get(`${path}?limit=${limit}`);
      assert.equal(status, 400, `${path} limit=${limit}`);
      assert.equal(body.error!.code, 'VALIDATION_ERROR');
      assert.match(body.error!.message, /^query field "limit": expected a whole number from 1 to 1000$/);
    }
  }
  const otherList = Buffer.from(JSON.stringify(['only-one-part'])).toString('base64url');
  for (const cursor of ['garbage!', otherList, Buffer.from('{"a":1}').toString('base64url')]) {
    const { status, body } = await get(`/v1/models?limit=5&cursor=${encodeURIComponent(cursor)}`);
    assert.equal(status, 400, cursor);
    assert.equal(body.error!.code, 'VALIDATION_ERROR');
    assert.match(body.error!.message, /^query field "cursor": not a cursor this list gave/);
  }
  const twice = await get('/v1/models?limit=5&limit=6');
  assert.equal(twice.status, 400);
  assert.match(twice.body.error!.message, /query field "limit"/);
});

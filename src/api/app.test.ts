import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packDirectory } from '../bundle/pack.ts';
import { serverConfig } from '../config/server-config.ts';
import { startServer } from '../server.ts';
import { writeTree } from '../../test/support/write-tree.ts';
import type { RunningServer } from '../server.ts';

const home = mkdtempSync(join(tmpdir(), 'plinth-api-'));
let server: RunningServer;
let key: string;

before(async () => {
  server = await startServer(serverConfig({ homeDir: join(home, 'home'), port: 0 }));
  key = server.createdApiKey!;
});
after(async () => {
  await server.close();
  rmSync(home, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { authorization: `Api-Key ${key}`, ...headers } };
  if (Buffer.isBuffer(body)) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function bundleOf(files: Record<string, string>) {
  return packDirectory(writeTree(mkdtempSync(join(home, 'model-')), files));
}

test('the first start writes credentials (mode 600) with the admin key', () => {
  const file = join(home, 'home', 'credentials.json');
  const creds = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(creds.api_key, key);
  assert.equal(creds.url, server.url);
  assert.match(key, /^plk_/);
});

test('every /v1 route needs a valid key; Api-Key and Bearer are accepted', async () => {
  assert.equal((await fetch(`${server.url}/v1/models`)).status, 401);
  const wrong = await call('GET', '/v1/models', undefined, { authorization: 'Api-Key plk_wrong' });
  assert.deepEqual(wrong, {
    status: 401,
    body: { error: { code: 'UNAUTHENTICATED', message: 'invalid or revoked API key' } },
  });
  assert.equal((await call('GET', '/v1/models', undefined, { authorization: `Bearer ${key}` })).status, 200);
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${server.url}/v1/openapi.json`)).status, 200);
});

test('errors use the catalogue: code, message and matching status', async () => {
  assert.deepEqual(await call('GET', '/v1/models/nope'), {
    status: 404,
    body: { error: { code: 'MODEL_NOT_FOUND', message: 'model "nope" not found' } },
  });
  const badName = await call('POST', '/v1/models', { name: 'no/slashes' });
  assert.equal(badName.status, 400);
  assert.equal(badName.body.error.code, 'VALIDATION_ERROR');
  assert.match(badName.body.error.message, /model name "no\/slashes" is not allowed: it contains "\/"/);
  // Spaces are allowed (as in Truss); a name differing only in case is taken.
  assert.equal((await call('POST', '/v1/models', { name: 'spaces are fine' })).status, 201);
  assert.equal((await call('GET', '/v1/models/spaces%20are%20fine')).body.name, 'spaces are fine');
  const sameName = await call('POST', '/v1/models', { name: 'Spaces Are Fine' });
  assert.equal(sameName.status, 409);
  assert.equal(sameName.body.error.code, 'CONFLICT');
  const missingField = await call('POST', '/v1/models', {});
  assert.match(missingField.body.error.message, /request body field "name"/);
  assert.equal((await call('GET', '/v1/nothing-here')).body.error.code, 'NOT_FOUND');
});

test('bundles are stored under their hash once, and a wrong hash is refused', async () => {
  const bundle = await bundleOf({ 'model/model.ts': 'export class Model { predict() { return 1 } }' });
  assert.equal(
    (
      await fetch(`${server.url}/v1/bundles/${bundle.sha256}`, {
        method: 'HEAD',
        headers: { authorization: `Api-Key ${key}` },
      })
    ).status,
    404,
  );
  const wrong = await call('PUT', `/v1/bundles/${'0'.repeat(64)}`, bundle.bytes, {
    'content-type': 'application/gzip',
  });
  assert.equal(wrong.status, 422);
  assert.equal(wrong.body.error.code, 'BUNDLE_HASH_MISMATCH');
  const put = await call('PUT', `/v1/bundles/${bundle.sha256}`, bundle.bytes, {
    'content-type': 'application/gzip',
  });
  assert.equal(put.status, 201);
  assert.equal(
    (
      await fetch(`${server.url}/v1/bundles/${bundle.sha256}`, {
        method: 'HEAD',
        headers: { authorization: `Api-Key ${key}` },
      })
    ).status,
    200,
  );
});

test('a deployment from a bundle with a bad config is refused and nothing is recorded', async () => {
  const bundle = await bundleOf({
    'config.yaml': 'resources: { cpu: 1, gpus: 2 }\n',
    'model/model.ts': 'export class Model {}',
  });
  await call('PUT', `/v1/bundles/${bundle.sha256}`, bundle.bytes, { 'content-type': 'application/gzip' });
  const r = await call('POST', '/v1/models/badcfg/deployments', { bundle_sha256: bundle.sha256 });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'INVALID_CONFIG');
  assert.match(r.body.error.message, /config.yaml: unknown key "resources.gpus"/);
  assert.equal((await call('GET', '/v1/models/badcfg')).status, 404);
  const missing = await call('POST', '/v1/models/x/deployments', { bundle_sha256: 'a'.repeat(64) });
  assert.equal(missing.body.error.code, 'BUNDLE_NOT_FOUND');
});

test('a deployment is created BUILDING, promoted to production as the first one, and can be deleted', async () => {
  const bundle = await bundleOf({ 'model/model.mjs': 'export class Model { predict(x) { return x } }' });
  await call('PUT', `/v1/bundles/${bundle.sha256}`, bundle.bytes, { 'content-type': 'application/gzip' });
  const created = await call('POST', '/v1/models/echo/deployments', { bundle_sha256: bundle.sha256 });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'deployment-1');
  assert.equal(created.body.status, 'BUILDING');
  assert.equal(created.body.environment, 'production');
  const second = await call('POST', '/v1/models/echo/deployments', {
    bundle_sha256: bundle.sha256,
    deployment_name: 'canary',
  });
  assert.equal(second.body.name, 'canary');
  assert.equal(second.body.environment, null);
  const dup = await call('POST', '/v1/models/echo/deployments', {
    bundle_sha256: bundle.sha256,
    deployment_name: 'canary',
  });
  assert.equal(dup.status, 409);
  const list = await call('GET', '/v1/models/echo/deployments');
  assert.deepEqual(
    list.body.deployments.map((d: { name: string }) => d.name),
    ['deployment-1', 'canary'],
  );
  const events = await call('GET', `/v1/models/echo/deployments/${created.body.id}/events`);
  assert.equal(events.body.events[0].to, 'BUILDING');
  assert.equal((await call('DELETE', '/v1/models/echo/deployments/canary')).status, 200);
  assert.equal((await call('GET', '/v1/models/echo/deployments/canary')).status, 404);
});

test('the OpenAPI document lists the management routes', async () => {
  const doc = (await (await fetch(`${server.url}/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, unknown>>;
  };
  for (const [path, method] of [
    ['/v1/models', 'get'],
    ['/v1/models/{m}/deployments', 'post'],
    ['/v1/bundles/{sha}', 'put'],
    ['/v1/models/{m}/deployments/{d}/logs', 'get'],
    ['/v1/models/{m}/deployments/{d}/replicas', 'get'],
    ['/v1/models/{m}/deployments/{d}/replicas/{r}', 'delete'],
  ] as const) {
    assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
  }
});

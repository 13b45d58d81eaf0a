// The async routes' front over a real SQLite store and real HTTP: a request is seen (and canceled)
// only through the URL it was sent to — its deployment's or its environment's — never through
// another environment's or another model's; a bad body is one 400 line naming the field; a
// webhook is refused while no secret signs.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { isPlinthError } from '../domain/errors.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { AsyncFront } from './async-front.ts';
import type { AsyncTarget } from './async-front.ts';

const store = await openSqliteStore(':memory:');
const model = await store.createModel('fronted');
const other = await store.createModel('other');
const prod = await store.createDeployment(deploymentInput(model.id));
const staging = await store.createDeployment(deploymentInput(model.id, { name: 'deployment-2' }));
const otherD = await store.createDeployment(deploymentInput(other.id));
let signing = false;
const front = new AsyncFront({
  store,
  maxInputBytes: 1024,
  allowPrivateWebhooks: true,
  onQueued: () => {},
  hasSigningSecret: async () => signing,
});
const targets: Record<string, AsyncTarget> = {
  production: { model, deployment: prod, environment: 'production', failure: null },
  deployment: { model, deployment: prod, environment: null, failure: null },
  staging: { model, deployment: staging, environment: 'staging', failure: null },
  other: { model: other, deployment: otherD, environment: 'production', failure: null },
};

// Path: /<target>/<action>[/<id>]; errors answered as the gateway would.
const server = createServer((req, res) => {
  const [, target, action, id] = req.url!.split('/') as [string, string, 'async_predict', string?];
  front.handle(action, targets[target]!, req, res, 'rid', id).catch((err: unknown) => {
    const status = isPlinthError(err) ? err.httpStatus : 500;
    res.writeHead(status).end((err as Error).message);
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(async () => {
  server.close();
  await store.close();
});

const call = (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });

test('a request is seen through its environment and its deployment, never through another target', async () => {
  const made = await call('POST', '/production/async_predict', { model_input: { x: 1 } });
  assert.equal(made.status, 201);
  const { request_id: id } = (await made.json()) as { request_id: string };
  assert.equal((await call('GET', `/production/async_request/${id}`)).status, 200);
  assert.equal((await call('GET', `/deployment/async_request/${id}`)).status, 200);
  assert.equal((await call('GET', `/staging/async_request/${id}`)).status, 404);
  assert.equal((await call('GET', `/other/async_request/${id}`)).status, 404);
  assert.equal((await call('DELETE', `/staging/async_request/${id}`)).status, 404, 'nor canceled there');
  assert.equal((await call('DELETE', `/production/async_request/${id}`)).status, 200);
  const again = await call('DELETE', `/production/async_request/${id}`);
  assert.equal(again.status, 409);
  assert.match(await again.text(), /is CANCELED: only a QUEUED request can be canceled/);
});

test('a bad body is one line naming the field; a webhook waits for a signing secret; a large input is 413', async () => {
  for (const [body, pattern] of [
    [{ model_input: {}, priority: 3 }, /^priority: /],
    [{ model_input: {}, max_time_in_queue_seconds: 5 }, /^max_time_in_queue_seconds: /],
    [
      { model_input: {}, inference_retry_config: { max_attempts: 11 } },
      /^inference_retry_config\.max_attempts: /,
    ],
    [{ priority: 1 }, /model_input/],
    [{ model_input: {}, extra: 1 }, /extra/],
  ] as const) {
    const res = await call('POST', '/production/async_predict', body);
    const text = await res.text();
    assert.equal(res.status, 400, text);
    assert.match(text, pattern);
    assert.doesNotMatch(text, /\n/);
  }
  const unsigned = await call('POST', '/production/async_predict', {
    model_input: {},
    webhook_endpoint: 'http://127.0.0.1:9/hook',
  });
  assert.equal(unsigned.status, 400);
  assert.match(await unsigned.text(), /^webhook_endpoint: no webhook secret exists/);
  signing = true;
  const ftp = await call('POST', '/production/async_predict', {
    model_input: {},
    webhook_endpoint: 'ftp://x/y',
  });
  assert.equal(ftp.status, 400);
  assert.match(await ftp.text(), /^webhook_endpoint: /);
  const large = await call('POST', '/production/async_predict', { model_input: 'x'.repeat(2000) });
  assert.equal(large.status, 413);
  const status = (await (await call('GET', '/production/async_queue_status')).json()) as Record<
    string,
    number
  >;
  assert.deepEqual(
    status,
    { num_queued_requests: 0, num_in_progress_requests: 0 },
    'nothing refused was stored',
  );
});

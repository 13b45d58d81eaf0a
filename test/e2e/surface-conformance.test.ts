// e2e: the pinned surfaces of DESIGN.md §5, walked as a script written against them would: every
// management route is served and answers the pinned shapes (lists under their plural key, single
// objects bare, the pinned fields, errors as {"error": {code, message}}), and every inference form
// answers on every target (environment, deployment, development, production) in both the host form
// and the path form. Scripts outside this repo call these; a departure fails here first.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { ERROR_CATALOGUE } from '../../src/domain/errors.ts';
import { until } from '../support/wait.ts';
import { writeTree } from '../support/write-tree.ts';
import { pushed, REPO, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

/** The management routes of DESIGN.md §5, as it lists them. */
const PINNED_ROUTES: [string, string][] = [
  ['GET', '/v1/models'],
  ['POST', '/v1/models'],
  ['GET', '/v1/models/{m}'],
  ['DELETE', '/v1/models/{m}'],
  ['HEAD', '/v1/bundles/{sha256}'],
  ['PUT', '/v1/bundles/{sha256}'],
  ['GET', '/v1/models/{m}/deployments'],
  ['POST', '/v1/models/{m}/deployments'],
  ['GET', '/v1/models/{m}/deployments/{d}'],
  ['PATCH', '/v1/models/{m}/deployments/{d}'],
  ['DELETE', '/v1/models/{m}/deployments/{d}'],
  ...['activate', 'deactivate', 'retry', 'promote'].map((a): [string, string] => [
    'POST',
    `/v1/models/{m}/deployments/{d}/${a}`,
  ]),
  ['GET', '/v1/models/{m}/deployments/{d}/autoscaling_settings'],
  ['PATCH', '/v1/models/{m}/deployments/{d}/autoscaling_settings'],
  ...['logs', 'metrics', 'events', 'replicas', 'config', 'download'].map((a): [string, string] => [
    'GET',
    `/v1/models/{m}/deployments/{d}/${a}`,
  ]),
  ['DELETE', '/v1/models/{m}/deployments/{d}/replicas/{r}'],
  ['POST', '/v1/models/{m}/deployments/development/patches'],
  ['GET', '/v1/models/{m}/environments'],
  ['POST', '/v1/models/{m}/environments'],
  ['GET', '/v1/models/{m}/environments/{e}'],
  ['PATCH', '/v1/models/{m}/environments/{e}'],
  ['DELETE', '/v1/models/{m}/environments/{e}'],
  ...[
    'promote',
    'cancel_promotion',
    'pause_promotion',
    'resume_promotion',
    'force_cancel_promotion',
    'force_roll_forward_promotion',
    'activate',
    'deactivate',
  ].map((a): [string, string] => ['POST', `/v1/models/{m}/environments/{e}/${a}`]),
  ['GET', '/v1/models/{m}/environments/{e}/logs'],
  ['GET', '/v1/models/{m}/environments/{e}/metrics'],
  ['GET', '/v1/instance_types'],
  ['GET', '/v1/secrets'],
  ['POST', '/v1/secrets'],
  ['GET', '/v1/api_keys'],
  ['POST', '/v1/api_keys'],
  ['GET', '/metrics'],
  ['GET', '/healthz'],
  ['GET', '/v1/openapi.json'],
];

const DEPLOYMENT_FIELDS = [
  'id',
  'name',
  'model_id',
  'status',
  'active_replica_count',
  'autoscaling_settings',
  'instance_type_name',
  'environment',
  'is_development',
  'created_at',
];
const ENVIRONMENT_FIELDS = [
  'name',
  'current_deployment',
  'autoscaling_settings',
  'promotion_settings',
  'in_progress_promotion',
];
const REPLICA_FIELDS = ['id', 'status', 'address', 'started_at', 'in_flight'];

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-surface-'));
type Json = Record<string, unknown>;

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

function hasFields(what: string, o: unknown, fields: string[]): void {
  assert.ok(o && typeof o === 'object', `${what} is an object`);
  for (const f of fields)
    assert.ok(f in (o as Json), `${what} has "${f}": ${JSON.stringify(o).slice(0, 300)}`);
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${platform.url}${path}`, {
    method,
    headers: {
      authorization: `Api-Key ${platform.apiKey}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = method === 'HEAD' ? '' : await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, body: json as Json, headers: res.headers };
}

/** Asserts a 2xx answer and returns its body. */
async function ok(method: string, path: string, body?: unknown): Promise<Json> {
  const r = await call(method, path, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Asserts the pinned error shape and code. */
async function refused(method: string, path: string, code: string, body?: unknown): Promise<void> {
  const r = await call(method, path, body);
  const error = (r.body as { error?: { code?: string; message?: string } }).error;
  assert.ok(
    error && typeof error.message === 'string' && error.message.length > 0,
    `${method} ${path}: ${JSON.stringify(r.body)}`,
  );
  assert.equal(error.code, code, `${method} ${path}: ${error.message}`);
  assert.equal(
    r.status,
    ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE],
    `${method} ${path}: the status of ${code}`,
  );
}

test('every management route of §5 is served: the OpenAPI document lists each one', async () => {
  const doc = (await ok('GET', '/v1/openapi.json')) as { paths: Record<string, Record<string, unknown>> };
  const served = new Set(
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{[^}]+\}/g, '{}')}`),
    ),
  );
  const missing = PINNED_ROUTES.filter(([m, p]) => {
    const key = `${m} ${p.replace(/\{[^}]+\}/g, '{}')}`;
    // fastify answers HEAD from GET routes; a literal segment may be served by its {param} route.
    const viaParam = key.replace('/development/', '/{}/');
    return !served.has(key) && !served.has(viaParam) && !(m === 'HEAD' && served.has(`GET${key.slice(4)}`));
  });
  assert.deepEqual(missing, [], 'pinned routes the server does not serve');
});

test('management bodies have the pinned shapes, and {m}/{d} take every pinned form', async () => {
  const dir = join(REPO, 'examples', 'hello');
  const first = await pushed(platform, dir);
  const m = first.model_id;

  // Models: a list under "models"; a single one bare, by id or by name; errors in the pinned shape.
  const models = await ok('GET', '/v1/models');
  assert.ok(Array.isArray(models.models));
  assert.equal((await ok('GET', `/v1/models/${m}`)).id, m);
  assert.equal((await ok('GET', '/v1/models/hello')).id, m);
  assert.ok(/^m[a-z2-7]{7}$/.test(m), `a model id is m + 7 base32 characters: ${m}`);
  await refused('GET', '/v1/models/no-such-model', 'MODEL_NOT_FOUND');
  const created = await call('POST', '/v1/models', { name: 'empty-model' });
  assert.ok(created.status === 200 || created.status === 201, JSON.stringify(created.body));
  await ok('DELETE', '/v1/models/empty-model');

  // Auth: Api-Key and Bearer both work; none is a 401 in the pinned shape.
  assert.equal(
    (await call('GET', '/v1/models', undefined, { authorization: `Bearer ${platform.apiKey}` })).status,
    200,
  );
  const anonymous = await fetch(`${platform.url}/v1/models`);
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');

  // Deployments: the pinned fields; {d} as an id, a name, `production` and `development`.
  const list = await ok('GET', `/v1/models/${m}/deployments`);
  assert.ok(Array.isArray(list.deployments));
  const d = await ok('GET', `/v1/models/${m}/deployments/${first.deployment_id}`);
  hasFields('a deployment', d, DEPLOYMENT_FIELDS);
  assert.equal((await ok('GET', `/v1/models/${m}/deployments/${String(d.name)}`)).id, d.id);
  assert.equal((await ok('GET', `/v1/models/${m}/deployments/production`)).id, d.id);
  await refused('GET', `/v1/models/${m}/deployments/nope`, 'DEPLOYMENT_NOT_FOUND');
  const patched = await ok('PATCH', `/v1/models/${m}/deployments/${String(d.id)}`, {
    autoscaling_settings: { max_replica: 3 },
  });
  assert.equal((patched.autoscaling_settings as Json).max_replica, 3, 'PATCH takes a partial object');
  const settings = await ok('GET', `/v1/models/${m}/deployments/production/autoscaling_settings`);
  assert.equal(settings.max_replica, 3);
  await ok('PATCH', `/v1/models/${m}/deployments/production/autoscaling_settings`, { max_replica: 2 });
  await refused('PATCH', `/v1/models/${m}/deployments/production/autoscaling_settings`, 'VALIDATION_ERROR', {
    max_replica: -1,
  });
  assert.ok(Array.isArray((await ok('GET', `/v1/models/${m}/deployments/production/logs`)).logs));
  assert.ok(Array.isArray((await ok('GET', `/v1/models/${m}/deployments/production/events`)).events));
  await ok('GET', `/v1/models/${m}/deployments/production/metrics`);
  const replicas = (await ok('GET', `/v1/models/${m}/deployments/production/replicas`)).replicas as Json[];
  assert.ok(replicas.length >= 1);
  hasFields('a replica', replicas[0], REPLICA_FIELDS);
  const config = await ok('GET', `/v1/models/${m}/deployments/production/config`);
  assert.equal((config.config as Json).model_name, 'hello');

  // Bundles: HEAD says whether one is stored; PUT stores the pushed tarball; a push from it.
  const download = await fetch(`${platform.url}/v1/models/${m}/deployments/production/download`, {
    headers: { authorization: `Api-Key ${platform.apiKey}` },
  });
  assert.equal(download.status, 200);
  const bytes = Buffer.from(await download.arrayBuffer());
  const sha = createHash('sha256').update(bytes).digest('hex');
  assert.equal((await call('HEAD', `/v1/bundles/${sha}`)).status, 200);
  assert.equal((await call('HEAD', `/v1/bundles/${'0'.repeat(64)}`)).status, 404);
  const put = await fetch(`${platform.url}/v1/bundles/${sha}`, {
    method: 'PUT',
    headers: { authorization: `Api-Key ${platform.apiKey}`, 'content-type': 'application/gzip' },
    body: bytes,
  });
  assert.ok(put.status < 300, `PUT bundle → ${put.status}`);
  const second = await ok('POST', `/v1/models/${m}/deployments`, { bundle_sha256: sha });
  hasFields('a created deployment', second, DEPLOYMENT_FIELDS);
  const secondId = String(second.id);
  await until(
    'the second deployment active',
    async () => (await ok('GET', `/v1/models/${m}/deployments/${secondId}`)).status,
    (s) => s === 'ACTIVE',
    120_000,
  );

  // The development deployment and its patches.
  const dev = await ok('POST', `/v1/models/${m}/deployments`, { bundle_sha256: sha, development: true });
  assert.equal(dev.is_development, true);
  await until(
    'the development deployment active',
    async () => (await ok('GET', `/v1/models/${m}/deployments/development`)).status,
    (s) => s === 'ACTIVE',
    120_000,
  );
  const patch = await ok('POST', `/v1/models/${m}/deployments/development/patches`, {
    base_sha256: sha,
    files: [{ path: 'notes.txt', content_base64: Buffer.from('a patch\n').toString('base64') }],
    removed: [],
  });
  assert.ok(patch, 'a patch is answered');

  // Environments: list, create, get, patch, the promotion controls, activate/deactivate, delete.
  const envs = await ok('GET', `/v1/models/${m}/environments`);
  assert.ok(Array.isArray(envs.environments));
  hasFields('an environment', (envs.environments as Json[])[0], ENVIRONMENT_FIELDS);
  const staging = await call('POST', `/v1/models/${m}/environments`, { name: 'staging' });
  assert.equal(staging.status, 201);
  hasFields('a created environment', staging.body, ENVIRONMENT_FIELDS);
  hasFields('an environment', await ok('GET', `/v1/models/${m}/environments/staging`), ENVIRONMENT_FIELDS);
  const envPatched = await ok('PATCH', `/v1/models/${m}/environments/staging`, {
    autoscaling_settings: { max_replica: 2 },
    promotion_settings: { ramp_up_while_promoting: true, ramp_up_duration_seconds: 600 },
  });
  assert.equal((envPatched.autoscaling_settings as Json).max_replica, 2);
  await refused('GET', `/v1/models/${m}/environments/nope`, 'ENVIRONMENT_NOT_FOUND');
  for (const action of [
    'cancel_promotion',
    'pause_promotion',
    'resume_promotion',
    'force_cancel_promotion',
    'force_roll_forward_promotion',
  ])
    await refused('POST', `/v1/models/${m}/environments/staging/${action}`, 'CONFLICT', {});
  await ok('POST', `/v1/models/${m}/environments/staging/promote`, { deployment_id: secondId });
  // A 600 s ramp: still in progress while every control is tried on it.
  await until(
    'the staging promotion ramping',
    () => ok('GET', `/v1/models/${m}/environments/staging`),
    (e) => (e.in_progress_promotion as Json | null)?.phase === 'RAMPING',
    60_000,
  );
  for (const action of ['pause_promotion', 'resume_promotion', 'cancel_promotion']) {
    const answer = await ok('POST', `/v1/models/${m}/environments/staging/${action}`, {});
    hasFields(`${action}'s answer`, answer, ENVIRONMENT_FIELDS);
  }
  await ok('POST', `/v1/models/${m}/environments/staging/promote`, { deployment_id: secondId });
  await until(
    'the staging promotion ramping again',
    () => ok('GET', `/v1/models/${m}/environments/staging`),
    (e) => (e.in_progress_promotion as Json | null)?.phase === 'RAMPING',
    60_000,
  );
  await ok('POST', `/v1/models/${m}/environments/staging/force_cancel_promotion`, {});
  await ok('POST', `/v1/models/${m}/environments/staging/promote`, { deployment_id: secondId });
  await until(
    'the third staging promotion ramping',
    () => ok('GET', `/v1/models/${m}/environments/staging`),
    (e) => (e.in_progress_promotion as Json | null)?.phase === 'RAMPING',
    60_000,
  );
  await ok('POST', `/v1/models/${m}/environments/staging/force_roll_forward_promotion`, {});
  assert.equal((await ok('GET', `/v1/models/${m}/environments/staging`)).current_deployment_id, secondId);
  assert.ok(Array.isArray((await ok('GET', `/v1/models/${m}/environments/staging/logs`)).logs));
  await ok('GET', `/v1/models/${m}/environments/staging/metrics`);
  await ok('POST', `/v1/models/${m}/environments/staging/deactivate`, {});
  await ok('POST', `/v1/models/${m}/environments/staging/activate`, {});
  await ok('DELETE', `/v1/models/${m}/environments/staging`);
  await refused('DELETE', `/v1/models/${m}/environments/production`, 'CONFLICT');

  // A deployment's lifecycle and promotion into production (`{}`).
  await ok('POST', `/v1/models/${m}/deployments/${secondId}/promote`, {});
  await ok('POST', `/v1/models/${m}/deployments/${first.deployment_id}/deactivate`, {});
  await ok('POST', `/v1/models/${m}/deployments/${first.deployment_id}/activate`, {});
  const retried = await call('POST', `/v1/models/${m}/deployments/${first.deployment_id}/retry`, {});
  assert.ok(
    retried.status < 300 || (retried.body.error as Json | undefined)?.code === 'CONFLICT',
    JSON.stringify(retried.body),
  );

  // Terminating a replica answers it (draining).
  const live = (await ok('GET', `/v1/models/${m}/deployments/production/replicas`)).replicas as Json[];
  const terminated = await call(
    'DELETE',
    `/v1/models/${m}/deployments/production/replicas/${String(live[0]!.id)}`,
  );
  assert.ok(terminated.status === 200 || terminated.status === 202, JSON.stringify(terminated.body));
  hasFields('a terminated replica', terminated.body, REPLICA_FIELDS);
  await refused('DELETE', `/v1/models/${m}/deployments/production/replicas/rzzzzzzz`, 'REPLICA_NOT_FOUND');

  // Keys, secrets, instance types, and the unauthenticated endpoints.
  const key = await call('POST', '/v1/api_keys', { name: 'surface', scope: 'inference' });
  assert.equal(key.status, 201);
  assert.equal(typeof key.body.api_key, 'string', 'the new key is answered once as api_key');
  const keys = await ok('GET', '/v1/api_keys');
  assert.ok(Array.isArray(keys.api_keys));
  assert.ok(!JSON.stringify(keys).includes(String(key.body.api_key)), 'a key is never listed');
  const secretValue = 'a-value-no-endpoint-returns';
  const stored = await ok('POST', '/v1/secrets', { name: 'surface_secret', value: secretValue });
  assert.ok(!JSON.stringify(stored).includes(secretValue));
  const secrets = await ok('GET', '/v1/secrets');
  assert.ok(Array.isArray(secrets.secrets));
  assert.ok(!JSON.stringify(secrets).includes(secretValue));
  const types = await ok('GET', '/v1/instance_types');
  assert.ok(Array.isArray(types.instance_types));
  const metrics = await fetch(`${platform.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /plinth_inference_requests_total/);
  assert.equal((await fetch(`${platform.url}/healthz`)).status, 200);

  await ok('DELETE', `/v1/models/${m}/deployments/development`);
  await ok('DELETE', `/v1/models/${m}`);
});

/** An HTTP request with an explicit Host header (the host form, without DNS for *.localhost). */
function hostRequest(
  method: string,
  host: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: platform.port,
        path,
        method,
        headers: { host, 'content-type': 'application/json', authorization: `Api-Key ${platform.apiKey}` },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A model with predict, an OpenAI chat route and a websocket, in Python (Truss's interface). */
const SURFACE_MODEL = `
class Model:
    def predict(self, model_input):
        return {"echo": model_input}

    def chat_completions(self, model_input):
        return {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
`;
const SURFACE_WS_MODEL = `
class Model:
    async def websocket(self, ws):
        text = await ws.receive_text()
        await ws.send_text("echo:" + text)
        await ws.close()
`;

test('every inference form answers on every target, in the host form and the path form', async () => {
  const model = await pushed(
    platform,
    writeTree(join(scratch, 'surface'), {
      'config.yaml': 'model_name: surface\n',
      'model/model.py': SURFACE_MODEL,
    }),
  );
  const id = model.model_id;
  // The development deployment, from the same bundle.
  const bundle = await fetch(`${platform.url}/v1/models/${id}/deployments/production/download`, {
    headers: { authorization: `Api-Key ${platform.apiKey}` },
  });
  const sha = bundle.headers.get('x-bundle-sha256')!;
  await ok('POST', `/v1/models/${id}/deployments`, { bundle_sha256: sha, development: true });
  await until(
    'the development deployment active',
    async () => (await ok('GET', `/v1/models/${id}/deployments/development`)).status,
    (s) => s === 'ACTIVE',
    120_000,
  );
  const targets = [
    'environments/production',
    `deployment/${model.deployment_id}`,
    'development',
    'production',
  ];
  const forms = (target: string): [string, string, string][] => [
    ['path', '127.0.0.1', `/models/${id}/${target}`],
    ['host', `model-${id}.localhost:${platform.port}`, `/${target}`],
  ];
  const failures: string[] = [];
  const expect = (
    what: string,
    r: { status: number; body: string },
    status: number[],
    check?: (b: Json) => boolean,
  ) => {
    let body: Json = {};
    try {
      body = JSON.parse(r.body) as Json;
    } catch {
      // not JSON: the check below says so
    }
    if (!status.includes(r.status) || (check && !check(body)))
      failures.push(`${what} → ${r.status} ${r.body.slice(0, 200)}`);
    return body;
  };
  for (const target of targets) {
    for (const [form, host, base] of forms(target)) {
      const at = `${form} ${base}`;
      expect(
        `${at}/predict`,
        await hostRequest('POST', host, `${base}/predict`, '{"x": 1}'),
        [200],
        (b) => (b.echo as Json)?.x === 1,
      );
      expect(`${at}/wake`, await hostRequest('POST', host, `${base}/wake`, ''), [200, 202]);
      expect(
        `${at}/sync/v1/chat/completions`,
        await hostRequest(
          'POST',
          host,
          `${base}/sync/v1/chat/completions`,
          '{"messages": [{"role": "user", "content": "x"}]}',
        ),
        [200],
        (b) => Array.isArray(b.choices),
      );
      const accepted = expect(
        `${at}/async_predict`,
        await hostRequest('POST', host, `${base}/async_predict`, '{"model_input": {"x": 2}}'),
        [201],
        (b) => typeof b.request_id === 'string',
      );
      const requestId = String(accepted.request_id);
      await until(
        `${at} async request done`,
        async () =>
          JSON.parse((await hostRequest('GET', host, `${base}/async_request/${requestId}`)).body) as Json,
        (b) => b.status === 'SUCCEEDED' || b.status === 'FAILED' || b.error !== undefined,
        60_000,
      );
      expect(
        `${at}/async_request`,
        await hostRequest('GET', host, `${base}/async_request/${requestId}`),
        [200],
        (b) => b.status === 'SUCCEEDED',
      );
      // Cancelling one that is done is a refusal in the pinned shape, not a missing route.
      expect(
        `${at}/async_request DELETE`,
        await hostRequest('DELETE', host, `${base}/async_request/${requestId}`),
        [200, 409],
        (b) => b.request_id !== undefined || (b.error as Json | undefined)?.code === 'CONFLICT',
      );
      expect(
        `${at}/async_queue_status`,
        await hostRequest('GET', host, `${base}/async_queue_status`),
        [200],
        (b) => typeof b.num_queued_requests === 'number',
      );
    }
  }
  assert.deepEqual(failures, [], 'inference forms that departed from §5');

  // The websocket form, on every target and both forms.
  const ws = await pushed(
    platform,
    writeTree(join(scratch, 'surface-ws'), {
      'config.yaml': 'model_name: surface-ws\n',
      'model/model.py': SURFACE_WS_MODEL,
    }),
  );
  const wsBundle = await fetch(`${platform.url}/v1/models/${ws.model_id}/deployments/production/download`, {
    headers: { authorization: `Api-Key ${platform.apiKey}` },
  });
  await ok('POST', `/v1/models/${ws.model_id}/deployments`, {
    bundle_sha256: wsBundle.headers.get('x-bundle-sha256'),
    development: true,
  });
  const wsTargets = [
    'environments/production',
    `deployment/${ws.deployment_id}`,
    'development',
    'production',
  ];
  for (const target of wsTargets) {
    for (const [form, host, base] of [
      ['path', `127.0.0.1:${platform.port}`, `/models/${ws.model_id}/${target}`],
      ['host', `model-${ws.model_id}.localhost:${platform.port}`, `/${target}`],
    ]) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${platform.port}${base}/websocket`, {
          headers: { host, authorization: `Api-Key ${platform.apiKey}` },
        });
        socket.on('open', () => socket.send('hi'));
        socket.on('message', (m) => resolve(String(m)));
        socket.on('unexpected-response', (_req, res) =>
          reject(new Error(`${form} ${base}/websocket → ${res.statusCode}`)),
        );
        socket.on('error', reject);
      });
      assert.equal(answer, 'echo:hi', `${form} ${base}/websocket`);
    }
  }
});

/** The CLI of DESIGN.md §5: each command and the flags it pins (every command takes --output json). */
const PINNED_CLI: [string[], string[]][] = [
  [['init'], ['--language']],
  [
    ['push'],
    [
      '--watch',
      '--promote',
      '--environment',
      '--deployment-name',
      '--preserve-previous-production-deployment',
      '--wait',
      '--no-wait',
      '--tail',
      '--output',
    ],
  ],
  [['watch'], []],
  [['predict'], ['--model', '--deployment', '--environment', '--development', '-d', '-f', '--output']],
  ...['list', 'get', 'activate', 'deactivate', 'retry', 'delete', 'promote'].map(
    (c): [string[], string[]] => [['deployments', c], ['--output']],
  ),
  ...['list', 'create', 'update', 'promote', 'cancel-promotion', 'delete'].map((c): [string[], string[]] => [
    ['environments', c],
    ['--output'],
  ]),
  [['autoscaling', 'get'], ['--output']],
  [['autoscaling', 'set'], ['--output']],
  [['logs'], ['--tail', '--since', '--replica', '--level', '--output']],
  [['instance-types'], ['--output']],
  [['keys'], []],
  [['secrets'], []],
  [['up'], ['--port', '--host', '--home']],
];

test('every pinned CLI command and flag of §5 exists', async () => {
  const missing: string[] = [];
  for (const [command, flags] of PINNED_CLI) {
    const help = await platform.cli([...command, '--help']);
    if (help.code !== 0) {
      missing.push(`plinth ${command.join(' ')} (exit ${help.code}: ${help.stderr.trim().split('\n')[0]})`);
      continue;
    }
    for (const flag of flags) {
      const pattern = new RegExp(`(^|[\\s,|\\[])${flag.replace(/[-]/g, '\\-')}([\\s,=<\\]]|$)`, 'm');
      if (!pattern.test(help.stdout)) missing.push(`plinth ${command.join(' ')} ${flag}`);
    }
  }
  assert.deepEqual(missing, [], 'pinned CLI surface missing');
});

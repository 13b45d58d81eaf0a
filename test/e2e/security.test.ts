// e2e: keys, scopes and secrets on the real server. Every management route (taken from the
// server's own route list, so a new route without a rule here fails) and every inference URL
// refuses a missing, wrong, revoked or out-of-scope key; a public environment answers without one;
// a secret's value reaches the model and never appears in an API answer or a log line, even when
// the model prints it; a slow client is cut off.
import { sleep } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-sec-'));
const SECRET = 'sk-live-7f3a9c1e5b2d';
const keys: Record<'deploy' | 'inference' | 'otherModel' | 'revoked', string> = {
  deploy: '',
  inference: '',
  otherModel: '',
  revoked: '',
};
let deploymentId = '';

const SECRET_MODEL = `import { createHash } from 'node:crypto';
export class Model {
  private token = '';
  constructor(ctx: { secrets: Record<string, string> }) {
    this.token = ctx.secrets.api_token ?? '';
  }
  load() {
    console.log('loaded with token ' + this.token);
  }
  predict() {
    console.error('predicting with ' + this.token);
    return { token_sha256: createHash('sha256').update(this.token).digest('hex') };
  }
}\n`;

before(async () => {
  // This test fails authentication hundreds of times on purpose; auth.test.ts covers the slowdown.
  platform = await startPlatform(undefined, [
    '--headers-timeout',
    '1',
    '--auth-failures-per-minute',
    '100000',
  ]);
  const set = await platform.cli(['secrets', 'set', 'api_token', '--value', SECRET]);
  assert.equal(set.code, 0, set.stderr);
  const pushed = await platform.cli([
    'push',
    writeTree(join(scratch, 'sec'), {
      'config.yaml': 'model_name: sec\nsecrets:\n  api_token: null\n',
      'model/model.ts': SECRET_MODEL,
    }),
    '--output',
    'json',
  ]);
  assert.equal(pushed.code, 0, pushed.stderr);
  deploymentId = (JSON.parse(pushed.stdout) as { deployment_id: string }).deployment_id;
  const create = async (name: string, scope: string, models?: string[]) => {
    const r = await platform.api<{ api_key: string; id: string }>('POST', '/v1/api_keys', {
      name,
      scope,
      models,
    });
    assert.equal(r.status, 201);
    return r.body;
  };
  keys.deploy = (await create('ci', 'deploy')).api_key;
  keys.inference = (await create('app', 'inference', ['sec'])).api_key;
  keys.otherModel = (await create('other', 'inference', ['someone-else'])).api_key;
  const revoked = await create('old', 'admin');
  keys.revoked = revoked.api_key;
  assert.equal((await platform.api('DELETE', `/v1/api_keys/${revoked.id}`)).status, 200);
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** What each management route needs. A route the server has and this table lacks fails the test. */
const RULES: Record<string, 'open' | 'deploy' | 'admin'> = {
  '/healthz': 'open',
  '/v1/openapi.json': 'open',
  '/metrics': 'open',
  '/': 'open',
  '/assets/{file}': 'open',
  '/v1/models': 'deploy',
  '/v1/models/{m}': 'deploy',
  '/v1/bundles/{sha}': 'deploy',
  '/v1/weights/{sha}': 'deploy',
  '/v1/webhook_secrets': 'admin',
  '/v1/webhook_secrets/{id}': 'admin',
  '/v1/models/{m}/deployments/{d}/async_queue': 'deploy',
  '/v1/models/{m}/deployments/{d}/config': 'deploy',
  '/v1/models/{m}/deployments/{d}/download': 'deploy',
  '/v1/models/{m}/deployments': 'deploy',
  '/v1/models/{m}/deployments/{d}': 'deploy',
  '/v1/models/{m}/deployments/{d}/activate': 'deploy',
  '/v1/models/{m}/deployments/{d}/deactivate': 'deploy',
  '/v1/models/{m}/deployments/{d}/retry': 'deploy',
  '/v1/models/{m}/deployments/{d}/promote': 'deploy',
  '/v1/models/{m}/deployments/{d}/autoscaling_settings': 'deploy',
  '/v1/models/{m}/deployments/{d}/events': 'deploy',
  '/v1/models/{m}/deployments/{d}/replicas': 'deploy',
  '/v1/models/{m}/deployments/{d}/replicas/{r}': 'deploy',
  '/v1/models/{m}/deployments/{d}/metrics': 'deploy',
  '/v1/models/{m}/deployments/{d}/logs': 'deploy',
  '/v1/models/{m}/deployments/{d}/artifacts/{part}': 'deploy',
  '/v1/models/{m}/deployments/development/patches': 'deploy',
  '/v1/models/{m}/deployments/development/keep_awake': 'deploy',
  '/v1/instance_types': 'deploy',
  '/v1/instance_type_prices': 'deploy',
  '/v1/changes': 'deploy',
  '/v1/models/{m}/changes': 'deploy',
  '/v1/models/{m}/environments': 'deploy',
  '/v1/models/{m}/environments/{e}': 'deploy',
  '/v1/models/{m}/environments/{e}/metrics': 'deploy',
  '/v1/models/{m}/environments/{e}/logs': 'deploy',
  '/v1/models/{m}/environments/{e}/promote': 'deploy',
  '/v1/models/{m}/environments/{e}/cancel_promotion': 'deploy',
  '/v1/models/{m}/environments/{e}/pause_promotion': 'deploy',
  '/v1/models/{m}/environments/{e}/resume_promotion': 'deploy',
  '/v1/models/{m}/environments/{e}/force_cancel_promotion': 'deploy',
  '/v1/models/{m}/environments/{e}/force_roll_forward_promotion': 'deploy',
  '/v1/models/{m}/environments/{e}/activate': 'deploy',
  '/v1/models/{m}/environments/{e}/deactivate': 'deploy',
  '/v1/api_keys': 'admin',
  '/v1/api_keys/{id}': 'admin',
  '/v1/secrets': 'admin',
  '/v1/secrets/{name}': 'admin',
};

async function send(method: string, path: string, key: string | null): Promise<number> {
  const res = await fetch(`${platform.url}${path}`, {
    method,
    headers: { authorization: key === null ? '' : `Api-Key ${key}`, 'content-type': 'application/json' },
    body: ['POST', 'PUT', 'PATCH'].includes(method) ? '{}' : undefined,
  });
  await res.body?.cancel();
  return res.status;
}

test('every management route refuses a missing, wrong, revoked or out-of-scope key', async () => {
  const doc = await platform.api<{ paths: Record<string, Record<string, unknown>> }>(
    'GET',
    '/v1/openapi.json',
  );
  const missing = Object.keys(doc.body.paths).filter((p) => !(p in RULES));
  assert.deepEqual(missing, [], 'routes with no access rule in this test');
  for (const [pattern, methods] of Object.entries(doc.body.paths)) {
    const path = pattern
      .replace('{m}', 'sec')
      .replace('{d}', deploymentId)
      .replace('{e}', 'production')
      .replace('{sha}', 'a'.repeat(64))
      .replace('{id}', 'kmissing')
      .replace('{name}', 'api_token')
      .replace('{file}', 'none.js')
      .replace('{part}', 'app')
      .replace('{r}', 'rmissing');
    for (const method of Object.keys(methods).map((m) => m.toUpperCase())) {
      if (method === 'HEAD') continue;
      const rule = RULES[pattern]!;
      const where = `${method} ${pattern}`;
      if (rule === 'open') {
        assert.notEqual(await send(method, path, null), 401, `${where} is open`);
        continue;
      }
      assert.equal(await send(method, path, null), 401, `${where} without a key`);
      assert.equal(await send(method, path, 'plk_wrong'), 401, `${where} with a wrong key`);
      assert.equal(await send(method, path, keys.revoked), 401, `${where} with a revoked key`);
      assert.equal(await send(method, path, keys.inference), 403, `${where} with an inference key`);
      if (rule === 'admin')
        assert.equal(await send(method, path, keys.deploy), 403, `${where} with a deploy key`);
    }
  }
  assert.equal(await send('GET', '/v1/models', keys.deploy), 200, 'a deploy key manages deployments');
  assert.equal(await send('GET', '/v1/api_keys', platform.apiKey), 200, 'the admin key manages keys');
});

test('every inference URL refuses a missing, wrong, revoked or other-model key; a public environment needs none', async () => {
  const base = `/models/sec`;
  const urls = [
    `${base}/environments/production/predict`,
    `${base}/production/predict`,
    `${base}/deployment/${deploymentId}/predict`,
    `${base}/development/predict`,
    `${base}/environments/production/wake`,
    `${base}/production/async_predict`,
    `${base}/deployment/${deploymentId}/async_queue_status`,
    `${base}/development/async_request/a2345234523452345abcd`,
  ];
  for (const url of urls) {
    for (const [key, status] of [
      [null, 401],
      ['plk_wrong', 401],
      [keys.revoked, 401],
      [keys.otherModel, 403],
    ] as const) {
      assert.equal(await send('POST', url, key), status, `${url} with ${key ?? 'no key'}`);
    }
  }
  // The queue workers' internal token is no key anyone can guess.
  const guessed = await fetch(`${platform.url}${base}/production/predict`, {
    method: 'POST',
    headers: { 'x-plinth-internal': 'guess', authorization: '' },
    body: '{}',
  });
  assert.equal(guessed.status, 401);
  assert.equal(await send('POST', `${base}/production/predict`, keys.inference), 200, 'its own model');
  assert.equal(
    await send('POST', `${base}/production/predict`, keys.deploy),
    200,
    'deploy keys call models too',
  );

  const open = await platform.cli(['environments', 'update', 'production', '--model', 'sec', '--public']);
  assert.equal(open.code, 0, open.stderr);
  assert.equal(await send('POST', `${base}/production/predict`, null), 200, 'public: no key needed');
  assert.equal(
    await send('POST', `${base}/deployment/${deploymentId}/predict`, null),
    401,
    'its deployment URL is not',
  );
  await platform.cli(['environments', 'update', 'production', '--model', 'sec', '--no-public']);
  assert.equal(await send('POST', `${base}/production/predict`, null), 401);
});

test("a secret's value reaches the model and never appears in an API answer or a log line", async () => {
  const res = await fetch(`${platform.url}/models/sec/production/predict`, { method: 'POST', body: '{}' });
  const answer = (await res.json()) as { token_sha256: string };
  const { createHash } = await import('node:crypto');
  assert.equal(
    answer.token_sha256,
    createHash('sha256').update(SECRET).digest('hex'),
    'the model got the value',
  );
  await sleep(500);
  const seen: string[] = [];
  for (const path of [
    '/v1/secrets',
    '/v1/models/sec',
    `/v1/models/sec/deployments/${deploymentId}`,
    `/v1/models/sec/deployments/${deploymentId}/events`,
    `/v1/models/sec/deployments/${deploymentId}/logs?limit=10000`,
    `/v1/models/sec/deployments/${deploymentId}/replicas`,
    '/v1/models/sec/environments',
    '/v1/api_keys',
  ]) {
    const r = await fetch(`${platform.url}${path}`, {
      headers: { authorization: `Api-Key ${platform.apiKey}` },
    });
    seen.push(await r.text());
  }
  const all = seen.join('\n');
  assert.ok(!all.includes(SECRET), 'the value is in no API answer');
  assert.match(all, /loaded with token \*\*\*\*/, 'the line the model printed is stored masked');
  assert.match(all, /predicting with \*\*\*\*/);
  const logs = await platform.cli(['logs', '--model', 'sec']);
  assert.ok(!logs.stdout.includes(SECRET));
  assert.ok(!platform.output().includes(SECRET), 'nor in the server output');
  assert.equal(statSync(join(platform.home, 'secret.key')).mode & 0o777, 0o600, 'the key file is private');

  // As Truss: a declared secret nobody set does not stop the model; the log says which.
  const missing = await platform.cli([
    'push',
    writeTree(join(scratch, 'nosecret'), {
      'config.yaml': 'model_name: nosecret\nsecrets:\n  hf_token: null\n',
      'model/model.ts':
        'export class Model { constructor({ secrets }) { this.s = secrets; } predict() { return { token: this.s.hf_token ?? null }; } }\n',
    }),
  ]);
  assert.equal(missing.code, 0, missing.stderr);
  const called = await platform.cli(['predict', '--model', 'nosecret', '-d', '{}']);
  assert.deepEqual(JSON.parse(called.stdout), { token: null });
  const warned = await platform.cli(['logs', '--model', 'nosecret', '--level', 'WARNING']);
  assert.match(
    warned.stdout,
    /secret "hf_token" is not set: plinth secrets set hf_token \(the model starts without it\)/,
  );
});

test('a client too slow to send its headers is cut off; a body over the limit is refused', async () => {
  const closed = await new Promise<number>((resolve, reject) => {
    const started = Date.now();
    const socket = connect(platform.port, '127.0.0.1', () =>
      socket.write('POST /models/sec/production/predict HTTP/1.1\r\nHost: x\r\n'),
    );
    socket.on('error', reject);
    socket.resume(); // read what the server answers (a 408), so that its close is seen
    socket.on('close', () => resolve(Date.now() - started));
    setTimeout(() => {
      socket.destroy();
      reject(new Error('the connection was still open after 10 s'));
    }, 10_000).unref();
  });
  assert.ok(closed < 10_000);
  // A body larger than the limit is refused from its Content-Length, before it is read.
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(platform.port, '127.0.0.1', () =>
      socket.write(
        `POST /models/sec/production/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Api-Key ${platform.apiKey}\r\nContent-Length: ${200 * 1024 ** 2}\r\n\r\nx`,
      ),
    );
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /PAYLOAD_TOO_LARGE/);
});

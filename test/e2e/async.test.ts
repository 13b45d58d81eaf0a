// e2e: async inference on the real server. 1,000 requests at three priorities against a deployment
// at zero replicas: it wakes and scales up, and a local webhook receiver that verifies every
// signature sees each request SUCCEED exactly once, priority 0 ahead of 2 on average. A request
// with a short max_time_in_queue_seconds EXPIRES; a canceled one never runs; a model that fails
// twice then succeeds is retried; a webhook that answers 500 then 200 gets the result; a
// private-address webhook is refused without --allow-private-webhooks; a SIGKILL of the server
// with requests queued and in progress loses none.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { verifyWebhook } from '../../src/queue/webhook-signature.ts';
import { writeTree } from '../support/write-tree.ts';
import { pushed, startPlatform, until } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
let receiver: Server;
let hookUrl = '';
let secret = '';
const work = mkdtempSync(join(tmpdir(), 'plinth-e2e-async-'));

interface Delivery {
  id: string;
  body: { request_id: string; type: string; data?: { output: unknown }; errors?: { code: string }[] };
  verified: boolean;
  at: number;
}
const deliveries: Delivery[] = [];
/** Request ids whose first delivery is answered 500 (the next one 200). */
const failOnce = new Set<string>();

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

before(async () => {
  receiver = createServer((req, res) => {
    void readBody(req).then((text) => {
      const id = String(req.headers['x-plinth-request-id']);
      if (failOnce.delete(id)) return void res.writeHead(500).end('try later');
      deliveries.push({
        id,
        body: JSON.parse(text) as Delivery['body'],
        verified: verifyWebhook(text, req.headers['x-plinth-signature'] as string, secret),
        at: Date.now(),
      });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  platform = await startPlatform(undefined, ['--allow-private-webhooks']);
  const made = await platform.api<{ id: string; secret: string }>('POST', '/v1/webhook_secrets');
  assert.equal(made.status, 201);
  secret = made.body.secret;
});
after(async () => {
  await platform?.stop();
  receiver?.closeAllConnections();
  receiver?.close();
  rmSync(work, { recursive: true, force: true });
});

// Works `ms` (default 5) per request; `fail` names a key whose first two calls fail.
const MODEL = `const failures = new Map();
export class Model {
  async predict(input) {
    if (input.fail) {
      const n = (failures.get(input.fail) ?? 0) + 1;
      failures.set(input.fail, n);
      if (n <= 2) throw new Error('flaky ' + n);
    }
    await new Promise((r) => setTimeout(r, input.ms ?? 5));
    console.log('ran ' + (input.n ?? input.fail ?? 'x'));
    return { n: input.n ?? null, calls: input.fail ? failures.get(input.fail) : null };
  }
}
`;

function model(name: string, config: string): string {
  return writeTree(join(work, name), {
    'config.yaml': `model_name: ${name}\n${config}`,
    'model/model.ts': MODEL,
  });
}

async function queue(modelId: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${platform.url}/models/${modelId}/production/async_predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return (JSON.parse(text) as { request_id: string }).request_id;
}

async function status(modelId: string, id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${platform.url}/models/${modelId}/production/async_request/${id}`);
  return (await res.json()) as Record<string, unknown>;
}

test('1,000 requests at three priorities wake a deployment at zero, scale it up, and each succeeds exactly once, signed', async () => {
  const m = await pushed(
    platform,
    model(
      'async-many',
      'runtime:\n  predict_concurrency: 4\nautoscaling:\n  min_replica: 0\n  max_replica: 3\n  autoscaling_window: 2\n  scale_down_delay: 0\n',
    ),
  );
  // At zero replicas first (it scales down at once), then slow to scale down while the queue runs.
  await until(
    'scaled to zero',
    async () =>
      (
        await platform.api<{ status: string }>(
          'GET',
          `/v1/models/${m.model_id}/deployments/${m.deployment_id}`,
        )
      ).body.status,
    (s) => s === 'SCALED_TO_ZERO',
    60_000,
  );
  const patched = await platform.api('PATCH', `/v1/models/${m.model_id}/environments/production`, {
    // The environment's settings are what its deployment runs with.
    autoscaling_settings: { min_replica: 0, max_replica: 3, autoscaling_window: 2, scale_down_delay: 60 },
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  const priorities = new Map<string, number>();
  const ids: string[] = [];
  // Sent by 20 clients at once, so that the queue builds faster than one replica drains it: all
  // of priority 2 first, then 1, then 0 — in arrival order 0 would come last.
  for (const priority of [2, 1, 0]) {
    const count = priority === 2 ? 334 : 333;
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let i = next++; i < count; i = next++) {
          const id = await queue(m.model_id, {
            model_input: { n: i, ms: 100 },
            webhook_endpoint: hookUrl,
            priority,
          });
          priorities.set(id, priority);
          ids.push(id);
        }
      }),
    );
  }
  let peak = 0;
  await until(
    'every webhook',
    async () => {
      const d = await platform.api<{ active_replica_count: number }>(
        'GET',
        `/v1/models/${m.model_id}/deployments/${m.deployment_id}`,
      );
      peak = Math.max(peak, d.body.active_replica_count);
      return new Set(deliveries.filter((x) => priorities.has(x.id)).map((x) => x.id)).size;
    },
    (n) => n === 1000,
    300_000,
    500,
  );
  const mine = deliveries.filter((x) => priorities.has(x.id));
  assert.equal(mine.length, 1000, 'each delivered exactly once');
  assert.ok(
    mine.every((x) => x.verified),
    'every signature verifies',
  );
  assert.ok(mine.every((x) => x.body.type === 'async_request_completed' && x.body.data !== undefined));
  const events = await platform.api<{ events: { to: string; reason: string }[] }>(
    'GET',
    `/v1/models/${m.model_id}/deployments/${m.deployment_id}/events`,
  );
  const scaler = (await platform.cli(['logs', '--model', 'async-many'])).stdout
    .split('\n')
    .filter((l) => /autoscaler/.test(l))
    .slice(-5);
  assert.ok(
    peak > 1,
    `scaled up (peak ${peak} replicas): ${JSON.stringify(events.body.events.slice(-3))} ${scaler.join(' | ')}`,
  );
  const order = new Map(mine.map((x, i) => [x.id, i]));
  const mean = (p: number) => {
    const ranks = ids.filter((id) => priorities.get(id) === p).map((id) => order.get(id)!);
    return ranks.reduce((a, b) => a + b, 0) / ranks.length;
  };
  assert.ok(
    mean(0) + 100 < mean(2),
    `priority 0, sent last, finishes well ahead of 2 on average (${mean(0)} < ${mean(2)})`,
  );
  const metrics = await (await fetch(`${platform.url}/metrics`)).text();
  assert.match(metrics, /^plinth_async_queue_time_seconds_count \d{4,}/m, 'each request observed once');
  assert.match(metrics, /^plinth_async_webhook_deliveries_total\{outcome="delivered"\} \d{4,}/m);
  const first = ids[0]!;
  const one = await status(m.model_id, first);
  assert.equal(one.status, 'SUCCEEDED');
  assert.deepEqual(one.output, mine.find((x) => x.id === first)!.body.data!.output);
  assert.equal(one.webhook_status, 'DELIVERED');
});

test('a request past its max_time_in_queue_seconds EXPIRES; a canceled one never runs', async () => {
  const m = await pushed(platform, model('async-slow', 'autoscaling:\n  min_replica: 1\n  max_replica: 1\n'));
  // One slot, held for 15 s: what comes after waits.
  const busy = await queue(m.model_id, { model_input: { n: 1, ms: 15_000 } });
  await until(
    'busy runs',
    () => status(m.model_id, busy),
    (s) => s.status === 'IN_PROGRESS',
    30_000,
  );
  const expiring = await queue(m.model_id, {
    model_input: { n: 2 },
    max_time_in_queue_seconds: 10,
    webhook_endpoint: hookUrl,
  });
  const canceled = await queue(m.model_id, { model_input: { n: 3 } });
  const cancel = await fetch(`${platform.url}/models/${m.model_id}/production/async_request/${canceled}`, {
    method: 'DELETE',
  });
  assert.equal(cancel.status, 200);
  const again = await fetch(`${platform.url}/models/${m.model_id}/production/async_request/${canceled}`, {
    method: 'DELETE',
  });
  assert.equal(again.status, 409, 'only a QUEUED request can be canceled');
  await until(
    'expired',
    () => status(m.model_id, expiring),
    (s) => s.status === 'EXPIRED',
    60_000,
  );
  await until(
    'busy done',
    () => status(m.model_id, busy),
    (s) => s.status === 'SUCCEEDED',
    60_000,
  );
  await until('expiry delivered', async () => deliveries.find((d) => d.id === expiring), Boolean, 30_000);
  assert.equal(deliveries.find((d) => d.id === expiring)!.body.errors![0]!.code, 'EXPIRED');
  assert.equal((await status(m.model_id, canceled)).status, 'CANCELED');
  const logs = await platform.cli(['logs', '--model', 'async-slow']);
  assert.match(logs.stdout, /ran 1/);
  assert.doesNotMatch(logs.stdout, /ran 3/, 'the canceled request never ran');
  const queued = await fetch(`${platform.url}/models/${m.model_id}/production/async_queue_status`);
  assert.deepEqual(await queued.json(), { num_queued_requests: 0, num_in_progress_requests: 0 });
});

test('a model that fails twice then succeeds is retried; a webhook that answers 500 then 200 gets the result', async () => {
  const m = await pushed(
    platform,
    model('async-flaky', 'autoscaling:\n  min_replica: 1\n  max_replica: 1\n'),
  );
  const id = await queue(m.model_id, {
    model_input: { fail: 'k1' },
    webhook_endpoint: hookUrl,
    inference_retry_config: { max_attempts: 3, initial_delay_ms: 100, max_delay_ms: 500 },
  });
  failOnce.add(id);
  await until('delivered', async () => deliveries.find((d) => d.id === id), Boolean, 60_000);
  const done = await status(m.model_id, id);
  assert.equal(done.status, 'SUCCEEDED');
  assert.equal(done.attempts, 3);
  assert.deepEqual(done.output, { n: null, calls: 3 });
  assert.equal((done.errors as unknown[]).length, 2, 'the two failures are recorded');
  assert.ok(!failOnce.has(id), 'the first delivery was answered 500');
  assert.deepEqual(deliveries.find((d) => d.id === id)!.body.data, { output: { n: null, calls: 3 } });

  // A field out of range is refused at accept, naming it.
  const bad = await fetch(`${platform.url}/models/${m.model_id}/production/async_predict`, {
    method: 'POST',
    body: JSON.stringify({ model_input: {}, priority: 7 }),
  });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /priority/);
});

test('a 4xx from the model is final: no retry', async () => {
  const dir = writeTree(join(work, 'async-refuses'), {
    'config.yaml': 'model_name: async-refuses\nrequirements: []\n',
    'model/model.py':
      'from fastapi import HTTPException\n\n\nclass Model:\n    def predict(self, model_input):\n        raise HTTPException(status_code=422, detail="this model takes no such input")\n',
  });
  const m = await pushed(platform, dir);
  const id = await queue(m.model_id, {
    model_input: { x: 1 },
    inference_retry_config: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 10 },
  });
  const done = await until(
    'failed',
    () => status(m.model_id, id),
    (s) => s.status === 'FAILED',
    60_000,
  );
  assert.equal(done.attempts, 1);
  assert.match(JSON.stringify(done.errors), /this model takes no such input/);
});

test('the CLI queues, follows, counts and cancels async requests, and lists webhook secrets', async () => {
  const m = await pushed(platform, model('async-cli', 'autoscaling:\n  min_replica: 1\n  max_replica: 1\n'));
  const queued = await platform.cli([
    'predict',
    '--model',
    'async-cli',
    '-d',
    '{"n": 5, "ms": 15000}',
    '--async',
    '--priority',
    '0',
  ]);
  assert.equal(queued.code, 0, queued.stderr);
  const id = queued.stdout.trim();
  assert.match(id, /^a[a-z2-7]{20}$/);
  const behind = await platform.cli([
    'predict',
    '--model',
    'async-cli',
    '-d',
    '{"n": 6}',
    '--async',
    '--output',
    'json',
  ]);
  const behindId = (JSON.parse(behind.stdout) as { request_id: string }).request_id;
  await until(
    'running',
    () => status(m.model_id, id),
    (s) => s.status === 'IN_PROGRESS',
    30_000,
  );
  const counts = await platform.cli(['async', 'queue', '--model', 'async-cli', '--output', 'json']);
  assert.deepEqual(JSON.parse(counts.stdout), { num_queued_requests: 1, num_in_progress_requests: 1 });
  const canceled = await platform.cli(['async', 'cancel', behindId, '--model', 'async-cli']);
  assert.equal(canceled.code, 0, canceled.stderr);
  assert.match(canceled.stdout, /status: CANCELED/);
  await until(
    'done',
    () => status(m.model_id, id),
    (s) => s.status === 'SUCCEEDED',
    60_000,
  );
  const got = await platform.cli(['async', 'get', id, '--model', 'async-cli']);
  assert.match(got.stdout, /^status: SUCCEEDED$/m);
  assert.match(got.stdout, /^output: \{"n":5,"calls":null\}$/m);
  const again = await platform.cli(['async', 'cancel', id, '--model', 'async-cli']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /only a QUEUED request can be canceled/);
  const secrets = await platform.cli(['webhooks', 'secret', 'list']);
  assert.equal(secrets.code, 0, secrets.stderr);
  assert.match(secrets.stdout, /^ID\s+CREATED\s+SIGNS UNTIL/m);
  const made = await platform.cli(['webhooks', 'secret', 'create', '--output', 'json']);
  const { id: secretId, secret: value } = JSON.parse(made.stdout) as { id: string; secret: string };
  assert.match(value, /^whsec_/);
  const revoked = await platform.cli(['webhooks', 'secret', 'revoke', secretId, '--overlap-hours', '1']);
  assert.match(revoked.stdout, new RegExp(`^${secretId} signs until `));
  assert.ok(
    !(await platform.cli(['webhooks', 'secret', 'list'])).stdout.includes(value),
    'never shown again',
  );
});

test('a private-address webhook is refused without --allow-private-webhooks', async () => {
  const plain = await startPlatform();
  try {
    const m = await pushed(plain, model('async-private', ''));
    // Without a signing secret, no webhook is taken at all: nothing goes out unsigned.
    const unsigned = await fetch(`${plain.url}/models/${m.model_id}/production/async_predict`, {
      method: 'POST',
      body: JSON.stringify({ model_input: {}, webhook_endpoint: 'https://example.com/hook' }),
    });
    assert.equal(unsigned.status, 400);
    assert.match(await unsigned.text(), /no webhook secret exists/);
    assert.equal((await plain.api('POST', '/v1/webhook_secrets')).status, 201);
    const res = await fetch(`${plain.url}/models/${m.model_id}/production/async_predict`, {
      method: 'POST',
      body: JSON.stringify({ model_input: {}, webhook_endpoint: 'http://127.0.0.1:9/hook' }),
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /webhook_endpoint: .*loopback.*--allow-private-webhooks/);
  } finally {
    await plain.stop();
  }
});

test('a SIGKILL of the server with 500 requests queued and 10 in progress loses none: after a restart each one finishes', async () => {
  let server = await startPlatform();
  const home = server.home;
  try {
    const m = await pushed(
      server,
      model(
        'async-crash',
        'runtime:\n  predict_concurrency: 10\nautoscaling:\n  min_replica: 1\n  max_replica: 1\n',
      ),
    );
    const ids: string[] = [];
    for (let i = 0; i < 510; i++) {
      const res = await fetch(`${server.url}/models/${m.model_id}/production/async_predict`, {
        method: 'POST',
        body: JSON.stringify({ model_input: { n: i, ms: 300 } }),
      });
      assert.equal(res.status, 201);
      ids.push(((await res.json()) as { request_id: string }).request_id);
    }
    await until(
      'ten in progress',
      async () =>
        (await (await fetch(`${server.url}/models/${m.model_id}/production/async_queue_status`)).json()) as {
          num_in_progress_requests: number;
        },
      (s) => s.num_in_progress_requests >= 10,
      60_000,
    );
    await server.crash();
    server = await startPlatform(home);
    const final = new Set(['SUCCEEDED', 'FAILED']);
    await until(
      'every request finished',
      async () => {
        const res = await fetch(`${server.url}/models/${m.model_id}/production/async_queue_status`);
        return (await res.json()) as { num_queued_requests: number; num_in_progress_requests: number };
      },
      (s) => s.num_queued_requests === 0 && s.num_in_progress_requests === 0,
      240_000,
      1000,
    );
    for (const id of ids) {
      const res = await fetch(`${server.url}/models/${m.model_id}/production/async_request/${id}`);
      const body = (await res.json()) as { status: string };
      assert.ok(final.has(body.status), `${id}: ${body.status}`);
      assert.equal(body.status, 'SUCCEEDED', id);
    }
  } finally {
    await server.stop();
  }
});

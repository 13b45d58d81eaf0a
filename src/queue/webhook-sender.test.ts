// Webhook delivery from a real SQLite store to a real receiver on 127.0.0.1: a due delivery goes
// out signed and is recorded DELIVERED; a 500 is tried again later; the last try given up makes the
// request WEBHOOK_FAILED; with no secret that signs, nothing goes out and the delivery waits.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { WEBHOOK_MAX_ATTEMPTS } from './webhook-delivery.ts';
import { WebhookSender } from './webhook-sender.ts';
import { verifyWebhook } from './webhook-signature.ts';

const store = await openSqliteStore(':memory:');
const model = await store.createModel('hooked');
const deployment = await store.createDeployment(deploymentInput(model.id));
const SECRET = 'whsec_test_secret';
let status = 200;
const received: { id: string; verified: boolean; body: Record<string, unknown> }[] = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString();
    received.push({
      id: String(req.headers['x-plinth-request-id']),
      verified: verifyWebhook(text, req.headers['x-plinth-signature'] as string, SECRET),
      body: JSON.parse(text) as Record<string, unknown>,
    });
    res.writeHead(status).end();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
let secrets = [SECRET];
const outcomes: string[] = [];
const sender = new WebhookSender({
  store,
  signingSecrets: async () => secrets,
  allowPrivate: true,
  isLeading: () => true,
  onOutcome: (o) => outcomes.push(o),
});
after(async () => {
  receiver.closeAllConnections();
  receiver.close();
  await store.close();
});

/** A request that succeeded with a webhook due now. */
async function succeeded(): Promise<string> {
  const r = await store.enqueueAsync({
    model_id: model.id,
    deployment_id: deployment.id,
    environment: null,
    priority: 1,
    input_json: '{}',
    webhook_endpoint: hook,
    max_time_in_queue_s: 600,
    retry: { max_attempts: 1, initial_delay_ms: 0, max_delay_ms: 0 },
  });
  const [claimed] = await store.claimAsync({
    deployment_id: deployment.id,
    owner: 'w',
    now_ms: r.not_before_ms + 1,
    lease_ms: 60_000,
    limit: 1,
  });
  assert.equal(claimed?.id, r.id);
  await store.settleAsync(r.id, 'w', {
    to: 'SUCCEEDED',
    output_json: '{"ok":true}',
    output_expires_ms: Date.now() + 60_000,
  });
  return r.id;
}

/** One pass, and the deliveries it started. */
async function deliverNow(): Promise<void> {
  await sender.pass();
  for (let i = 0; i < 200 && (sender as unknown as { sending: Set<string> }).sending.size > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
}

test('a due delivery goes out signed, with the request id, and is recorded DELIVERED', async () => {
  const id = await succeeded();
  await deliverNow();
  const got = received.find((r) => r.id === id)!;
  assert.ok(got.verified);
  assert.deepEqual(got.body.data, { output: { ok: true } });
  assert.equal((await store.getAsync(id))?.webhook_status, 'DELIVERED');
});

test('a 500 is tried again later; the last try given up makes the request WEBHOOK_FAILED', async () => {
  status = 500;
  const id = await succeeded();
  await deliverNow();
  const once = (await store.getAsync(id))!;
  assert.deepEqual([once.webhook_status, once.webhook_attempts], ['PENDING', 1]);
  assert.ok(once.webhook_next_ms! > Date.now(), 'later, not at once');
  // Tries pass until the next one due is the last; it fails too, and the request says so.
  for (let i = 2; i < WEBHOOK_MAX_ATTEMPTS; i++)
    await store.recordWebhook(id, { status: 'PENDING', next_ms: 0 });
  assert.equal((await store.getAsync(id))?.webhook_attempts, WEBHOOK_MAX_ATTEMPTS - 1);
  await deliverNow();
  const given = (await store.getAsync(id))!;
  assert.deepEqual([given.status, given.webhook_status], ['WEBHOOK_FAILED', 'FAILED']);
  assert.equal(given.output_json, '{"ok":true}', 'the output is still kept');
  assert.deepEqual(outcomes.slice(-2), ['retry', 'failed']);
  status = 200;
});

test('with no secret that signs, nothing goes out and the delivery waits', async () => {
  secrets = [];
  const id = await succeeded();
  const before = received.length;
  await deliverNow();
  assert.equal(received.length, before, 'nothing unsigned');
  const r = (await store.getAsync(id))!;
  assert.equal(r.webhook_status, 'PENDING');
  assert.ok(r.webhook_next_ms! > Date.now());
  secrets = [SECRET];
});

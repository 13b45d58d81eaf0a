// The shared Store suite, part four: webhook deliveries of async requests (due, recorded, given
// up) and the webhook signing secrets. Run by runStoreSuite (store-suite.ts) against every Store
// implementation; times are passed in, derived from what the store recorded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claim, FAR_FUTURE_ISO, queueOf, readyAt } from './store-async-suite.ts';
import type { StoreSuiteContext } from './store-suite.ts';

export function webhookCases(ctx: StoreSuiteContext): void {
  test('webhooks come due when a request ends; a delivery given up makes it WEBHOOK_FAILED', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const hook = 'http://127.0.0.1:9/hook';
    const ok = await enqueue({ webhook_endpoint: hook });
    const lost = await enqueue({ webhook_endpoint: hook });
    const bad = await enqueue({ webhook_endpoint: hook });
    const t = readyAt(ok, lost, bad);
    await claim(store, d.id, t);
    const out = { to: 'SUCCEEDED' as const, output_json: '"out"', output_expires_ms: t + 3_600_000 };
    const settled = [await store.settleAsync(ok.id, 'w1', out), await store.settleAsync(lost.id, 'w1', out)];
    settled.push(
      await store.settleAsync(bad.id, 'w1', { to: 'FAILED', error: { code: 'MODEL_ERROR', message: 'x' } }),
    );
    for (const r of settled) {
      assert.equal(r?.webhook_status, 'PENDING');
      assert.equal(typeof r?.webhook_next_ms, 'number');
    }
    const dueAt = Math.max(...settled.map((r) => r!.webhook_next_ms!));
    assert.deepEqual(
      await store.listWebhooksDue(Math.min(...settled.map((r) => r!.webhook_next_ms!)) - 1, 10),
      [],
    );
    assert.deepEqual(
      (await store.listWebhooksDue(dueAt, 10)).map((r) => r.id).sort(),
      [ok.id, lost.id, bad.id].sort(),
    );
    assert.equal((await store.listWebhooksDue(dueAt, 1)).length, 1);
    await store.recordWebhook(ok.id, { status: 'PENDING', next_ms: dueAt + 1000 });
    assert.deepEqual(
      (await store.listWebhooksDue(dueAt, 10)).map((r) => r.id).sort(),
      [lost.id, bad.id].sort(),
    );
    await store.recordWebhook(ok.id, { status: 'DELIVERED', next_ms: null });
    await store.recordWebhook(lost.id, { status: 'FAILED', next_ms: null });
    await store.recordWebhook(bad.id, { status: 'FAILED', next_ms: null });
    const [delivered, gaveUp, badGaveUp] = await Promise.all(
      [ok, lost, bad].map((r) => store.getAsync(r.id)),
    );
    assert.deepEqual(
      [delivered?.status, delivered?.webhook_status, delivered?.webhook_attempts, delivered?.webhook_next_ms],
      ['SUCCEEDED', 'DELIVERED', 2, null],
    );
    assert.deepEqual(
      [gaveUp?.status, gaveUp?.webhook_status, gaveUp?.output_json],
      ['WEBHOOK_FAILED', 'FAILED', '"out"'],
    );
    assert.equal(badGaveUp?.status, 'WEBHOOK_FAILED');
    assert.equal(badGaveUp?.errors.length, 1);
    assert.deepEqual(await store.listWebhooksDue(dueAt + 1_000_000, 10), []);
  });

  test('an expired request whose webhook is given up stays EXPIRED', async () => {
    const { store, enqueue } = await queueOf(ctx);
    const r = await enqueue({ max_time_in_queue_s: 10, webhook_endpoint: 'http://127.0.0.1:9/hook' });
    assert.deepEqual(await store.expireAsync(Date.parse(r.created_at) + 10_000), [r.id]);
    await store.recordWebhook(r.id, { status: 'FAILED', next_ms: null });
    const after = await store.getAsync(r.id);
    assert.deepEqual(
      [after?.status, after?.webhook_status, after?.webhook_attempts],
      ['EXPIRED', 'FAILED', 1],
    );
    await store.recordWebhook(r.id, { status: 'DELIVERED', next_ms: null });
    assert.deepEqual(await store.getAsync(r.id), after, 'only a pending delivery is recorded');
  });

  test('webhook secrets: listed without ciphertexts; a revoked one signs until it expires', async () => {
    const store = ctx.store;
    const a = await store.createWebhookSecret({ id: 'wa', ciphertext: 'cipher-a' });
    assert.deepEqual([a.id, a.expires_at], ['wa', null]);
    await store.createWebhookSecret({ id: 'wb', ciphertext: 'cipher-b' });
    const listed = await store.listWebhookSecrets();
    assert.deepEqual(
      listed.map((s) => s.id),
      ['wb', 'wa'],
    );
    for (const s of listed) assert.deepEqual(Object.keys(s).sort(), ['created_at', 'expires_at', 'id']);
    const until = '2999-01-01T00:00:00.000Z';
    assert.equal(await store.revokeWebhookSecret('wa', until), true);
    assert.equal(await store.revokeWebhookSecret('wnope', until), false);
    const nowIso = new Date().toISOString();
    assert.deepEqual(
      (await store.signingWebhookSecrets(nowIso)).map((s) => [s.id, s.ciphertext, s.expires_at]),
      [
        ['wb', 'cipher-b', null],
        ['wa', 'cipher-a', until],
      ],
    );
    assert.deepEqual(
      (await store.signingWebhookSecrets(until)).map((s) => s.id),
      ['wb'],
    );
    assert.equal(await store.revokeWebhookSecret('wa', FAR_FUTURE_ISO), true);
    assert.equal(
      (await store.listWebhookSecrets()).find((s) => s.id === 'wa')?.expires_at,
      until,
      'the earlier end stands',
    );
    await store.revokeWebhookSecret('wb', '2000-01-01T00:00:00.000Z');
    assert.deepEqual(
      (await store.signingWebhookSecrets(nowIso)).map((s) => s.id),
      ['wa'],
    );
  });
}

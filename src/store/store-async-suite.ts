// The shared Store suite, part three: the durable queue of async requests (order, claims, settling,
// expiry, leases, counts, pruning); its webhooks are part four (store-webhooks-suite.ts). Run by runStoreSuite
// (store-suite.ts) against every Store implementation. Times the queue compares are passed in
// (`now_ms`), derived from what the store recorded; no test asserts the wall clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AsyncRequest, NewAsyncRequest } from '../domain/async-requests.ts';
import type { Deployment } from '../domain/types.ts';
import type { StoreSuiteContext } from './store-suite.ts';
import type { Store } from './store.ts';

const RETRY = { max_attempts: 3, initial_delay_ms: 1000, max_delay_ms: 60_000 };
export const FAR_FUTURE_ISO = '9999-01-01T00:00:00.000Z';

/** A model with one deployment (or more), and a way to enqueue requests on them. */
export async function queueOf(ctx: StoreSuiteContext, names = ['deployment-1']) {
  const store = ctx.store;
  const model = await store.createModel('queued');
  const deployments: Deployment[] = [];
  for (const name of names) deployments.push(await store.createDeployment(ctx.deploymentOf(model.id, name)));
  const enqueue = (over: Partial<NewAsyncRequest> = {}): Promise<AsyncRequest> =>
    store.enqueueAsync({
      model_id: model.id,
      deployment_id: deployments[0]!.id,
      environment: 'production',
      priority: 1,
      input_json: '{"x":1}',
      webhook_endpoint: null,
      max_time_in_queue_s: 600,
      retry: RETRY,
      ...over,
    });
  return { store, model, deployments, d: deployments[0]!, enqueue };
}

/** A time at which every given request may run (past its not_before, before its queue deadline). */
export const readyAt = (...requests: AsyncRequest[]): number =>
  Math.max(...requests.map((r) => r.not_before_ms)) + 1;

export const claim = (
  store: Store,
  deployment_id: string,
  now_ms: number,
  limit = 10,
  owner = 'w1',
  lease_ms = 30_000,
) => store.claimAsync({ deployment_id, owner, now_ms, lease_ms, limit });

export function asyncCases(ctx: StoreSuiteContext): void {
  test('async requests are stored QUEUED and claimed by priority, then arrival, marked IN_PROGRESS', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const a = await enqueue({ priority: 2 });
    assert.match(a.id, /^a[a-z2-7]{20}$/);
    assert.equal(a.status, 'QUEUED');
    assert.deepEqual(await store.getAsync(a.id), a);
    assert.equal(await store.getAsync('anope'), undefined);
    const b = await enqueue({ priority: 1 });
    const c = await enqueue({ priority: 0 });
    const e = await enqueue({ priority: 1 });
    const f = await enqueue({ priority: 0 });
    const t = readyAt(a, b, c, e, f);
    const first = await claim(store, d.id, t, 2);
    assert.deepEqual(
      first.map((r) => r.id),
      [c.id, f.id],
    );
    const rest = await claim(store, d.id, t);
    assert.deepEqual(
      rest.map((r) => r.id),
      [b.id, e.id, a.id],
    );
    for (const r of [...first, ...rest]) {
      assert.equal(r.status, 'IN_PROGRESS');
      assert.equal(r.attempts, 1);
      assert.equal(r.lease_owner, 'w1');
      assert.equal(r.lease_until_ms, t + 30_000);
      assert.ok(r.started_at);
      assert.deepEqual(await store.getAsync(r.id), r);
    }
    assert.deepEqual(await claim(store, d.id, t), [], 'nothing is claimed twice');
  });

  test('a retry goes back to QUEUED until its not_before, then is claimed again (attempts 2)', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const r = await enqueue();
    const t = readyAt(r);
    assert.deepEqual(await claim(store, d.id, r.not_before_ms - 1), [], 'not before it was accepted');
    const [held] = await claim(store, d.id, t);
    const error = { code: 'MODEL_ERROR', message: 'boom' };
    const retried = await store.settleAsync(r.id, 'w1', { to: 'QUEUED', not_before_ms: t + 5000, error });
    assert.equal(retried?.status, 'QUEUED');
    assert.deepEqual(retried?.errors, [error]);
    assert.equal(retried?.lease_owner, null);
    assert.equal(retried?.lease_until_ms, null);
    assert.equal(retried?.finished_at, null);
    assert.deepEqual(await claim(store, d.id, t + 4999), []);
    const [again] = await claim(store, d.id, t + 5000, 10, 'w2');
    assert.equal(again?.id, r.id);
    assert.equal(again?.attempts, 2);
    assert.equal(again?.started_at, held!.started_at, 'started_at is the first claim');
    assert.equal(again?.lease_owner, 'w2');
  });

  test('settling is a compare-and-set on the lease owner; errors keep the latest ten', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const r = await enqueue();
    const t = readyAt(r);
    await claim(store, d.id, t);
    const before = await store.getAsync(r.id);
    assert.equal(
      await store.settleAsync(r.id, 'w2', { to: 'SUCCEEDED', output_json: '1', output_expires_ms: t }),
      undefined,
    );
    assert.deepEqual(await store.getAsync(r.id), before, 'a wrong owner writes nothing');
    const done = await store.settleAsync(r.id, 'w1', {
      to: 'SUCCEEDED',
      output_json: '{"y":2}',
      output_expires_ms: t + 9,
    });
    assert.equal(done?.status, 'SUCCEEDED');
    assert.equal(done?.output_json, '{"y":2}');
    assert.equal(done?.output_expires_ms, t + 9);
    assert.ok(done?.finished_at);
    assert.equal(done?.lease_owner, null);
    assert.equal(done?.webhook_status, null, 'no webhook, none pending');
    assert.deepEqual(await store.getAsync(r.id), done);
    const error = { code: 'MODEL_ERROR', message: 'late' };
    assert.equal(
      await store.settleAsync(r.id, 'w1', { to: 'FAILED', error }),
      undefined,
      'final stays final',
    );

    const many = await enqueue();
    const t2 = readyAt(many);
    for (let i = 0; i < 12; i++) {
      const [held] = await claim(store, d.id, t2);
      assert.equal(held?.id, many.id);
      const e = { code: 'MODEL_ERROR', message: `e${i}` };
      await store.settleAsync(
        many.id,
        'w1',
        i < 11 ? { to: 'QUEUED', not_before_ms: t2, error: e } : { to: 'FAILED', error: e },
      );
    }
    const failed = await store.getAsync(many.id);
    assert.equal(failed?.status, 'FAILED');
    assert.equal(failed?.attempts, 12);
    assert.deepEqual(
      failed?.errors.map((e) => e.message),
      ['e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10', 'e11'],
    );
  });

  test('concurrent claimers never claim the same request', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const requests: AsyncRequest[] = [];
    for (let i = 0; i < 50; i++) requests.push(await enqueue({ priority: i % 3 }));
    const t = readyAt(...requests);
    const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(store, d.id, t, 3, `w${i}`)));
    claims.push(await claim(store, d.id, t, 100, 'drain'));
    const owners = new Map<string, string>();
    claims.forEach((got, i) => {
      for (const r of got) {
        assert.ok(!owners.has(r.id), `${r.id} claimed twice`);
        owners.set(r.id, i === 20 ? 'drain' : `w${i}`);
      }
    });
    assert.equal(owners.size, 50);
    for (const r of requests) {
      const stored = await store.getAsync(r.id);
      assert.equal(stored?.attempts, 1);
      assert.equal(stored?.lease_owner, owners.get(r.id));
    }
  });

  test('a request that waited past max_time_in_queue_s expires, and is not claimed meanwhile', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const short = await enqueue({ max_time_in_queue_s: 10, webhook_endpoint: 'http://127.0.0.1:9/hook' });
    const long = await enqueue({ max_time_in_queue_s: 600 });
    const retrying = await enqueue({ max_time_in_queue_s: 10, priority: 0 });
    const deadline = Date.parse(short.created_at) + 10_000;
    const [held] = await claim(store, d.id, readyAt(retrying), 1);
    assert.equal(held?.id, retrying.id);
    await store.settleAsync(retrying.id, 'w1', {
      to: 'QUEUED',
      not_before_ms: deadline + 60_000,
      error: { code: 'REPLICA_UNAVAILABLE', message: 'no replica' },
    });
    assert.deepEqual(await store.expireAsync(deadline - 1), []);
    assert.deepEqual(
      (await claim(store, d.id, deadline, 1)).map((r) => r.id),
      [long.id],
      'a request past its deadline is not run',
    );
    assert.deepEqual(await store.expireAsync(deadline), [short.id]);
    const expired = (await store.getAsync(short.id))!;
    assert.deepEqual([expired.status, expired.webhook_status], ['EXPIRED', 'PENDING']);
    assert.ok(expired.finished_at);
    assert.equal(expired.webhook_next_ms, deadline);
    assert.deepEqual(
      await store.expireAsync(deadline + 3_600_000),
      [],
      'a request that has run does not expire',
    );
    assert.equal((await store.getAsync(retrying.id))?.status, 'QUEUED');
  });

  test('a request is canceled only while QUEUED, and its webhook is told', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const queued = await enqueue({ webhook_endpoint: 'http://127.0.0.1:9/hook' });
    const running = await enqueue({ priority: 0 });
    await claim(store, d.id, readyAt(running), 1);
    const canceled = await store.cancelAsync(queued.id);
    assert.equal(canceled?.status, 'CANCELED');
    assert.ok(canceled?.finished_at);
    assert.equal(canceled?.webhook_status, 'PENDING');
    assert.equal(await store.cancelAsync(queued.id), undefined);
    assert.equal(await store.cancelAsync(running.id), undefined);
    assert.equal((await store.getAsync(running.id))?.status, 'IN_PROGRESS');
    assert.deepEqual(await claim(store, d.id, readyAt(queued)), [], 'a canceled request never runs');
  });

  test('leases are renewed by their owner, and an ended lease puts the request back in the queue', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const r = await enqueue();
    const t = readyAt(r);
    await claim(store, d.id, t, 1, 'w1', 1000);
    assert.deepEqual(await store.renewAsyncLeases({ ids: [r.id], owner: 'w2', until_ms: t + 5000 }), []);
    assert.deepEqual(await store.renewAsyncLeases({ ids: [r.id], owner: 'w1', until_ms: t + 5000 }), [r.id]);
    assert.deepEqual(await store.renewAsyncLeases({ ids: [], owner: 'w1', until_ms: t }), []);
    assert.equal(await store.reclaimAsyncLeases(t + 5000), 0);
    assert.equal(await store.reclaimAsyncLeases(t + 5001, 'w1'), 0, 'not its own holder');
    assert.equal(await store.reclaimAsyncLeases(t + 5001), 1);
    const back = await store.getAsync(r.id);
    assert.deepEqual(
      [back?.status, back?.lease_owner, back?.lease_until_ms, back?.attempts],
      ['QUEUED', null, null, 0],
      'the attempt a crash cut off is not counted',
    );
    assert.equal(
      await store.settleAsync(r.id, 'w1', { to: 'FAILED', error: { code: 'X', message: 'x' } }),
      undefined,
    );
    const [again] = await claim(store, d.id, t + 5001, 1, 'w2');
    assert.equal(again?.attempts, 1);
  });

  test('queue counts per deployment, and the deployments with requests ready', async () => {
    const { store, model, deployments, enqueue } = await queueOf(ctx, ['deployment-1', 'deployment-2']);
    const [d1, d2] = deployments as [Deployment, Deployment];
    const made = [await enqueue(), await enqueue(), await enqueue()];
    made.push(await enqueue({ deployment_id: d2.id }), await enqueue({ deployment_id: d2.id }));
    const t = readyAt(...made);
    await claim(store, d1.id, t, 1);
    const [backingOff] = await claim(store, d2.id, t, 1);
    await store.settleAsync(backingOff!.id, 'w1', {
      to: 'QUEUED',
      not_before_ms: t + 10_000,
      error: { code: 'MODEL_ERROR', message: 'x' },
    });
    assert.deepEqual(await store.asyncQueueStatus(d1.id), {
      num_queued_requests: 2,
      num_in_progress_requests: 1,
    });
    assert.deepEqual(await store.asyncQueueStatus(d2.id), {
      num_queued_requests: 2,
      num_in_progress_requests: 0,
    });
    assert.deepEqual(await store.asyncQueueStatus('dnope'), {
      num_queued_requests: 0,
      num_in_progress_requests: 0,
    });
    const ready = (m: Map<string, number>) => [...m].sort();
    assert.deepEqual(
      ready(await store.asyncQueuedByDeployment(t)),
      ready(
        new Map([
          [d1.id, 2],
          [d2.id, 1],
        ]),
      ),
    );
    assert.deepEqual(
      ready(await store.asyncQueuedByDeployment(t + 10_000)),
      ready(
        new Map([
          [d1.id, 2],
          [d2.id, 2],
        ]),
      ),
    );
    assert.equal(model.id, made[0]!.model_id);
  });

  test('pruning clears outputs past retention and deletes old final requests', async () => {
    const { store, d, enqueue } = await queueOf(ctx);
    const done = await enqueue();
    const canceled = await enqueue();
    const hooked = await enqueue({ webhook_endpoint: 'http://127.0.0.1:9/hook' });
    const waiting = await enqueue();
    const t = readyAt(done, canceled, hooked, waiting);
    await store.cancelAsync(canceled.id);
    assert.deepEqual(
      (await claim(store, d.id, t, 2)).map((r) => r.id),
      [done.id, hooked.id],
    );
    const kept = { to: 'SUCCEEDED' as const, output_json: '"out"', output_expires_ms: t + 1000 };
    await store.settleAsync(done.id, 'w1', kept);
    await store.settleAsync(hooked.id, 'w1', kept);
    assert.equal(await store.pruneAsync({ now_ms: t + 999, before: '2000-01-01T00:00:00.000Z' }), 0);
    assert.equal((await store.getAsync(done.id))?.output_json, '"out"');
    assert.equal(await store.pruneAsync({ now_ms: t + 1000, before: '2000-01-01T00:00:00.000Z' }), 1);
    assert.equal((await store.getAsync(done.id))?.output_json, null);
    assert.equal(
      (await store.getAsync(hooked.id))?.output_json,
      '"out"',
      'an output whose webhook is still due is kept',
    );
    assert.equal((await store.getAsync(done.id))?.status, 'SUCCEEDED');
    assert.equal(await store.pruneAsync({ now_ms: t + 1000, before: FAR_FUTURE_ISO }), 2);
    assert.equal(await store.getAsync(done.id), undefined);
    assert.equal(await store.getAsync(canceled.id), undefined);
    assert.equal(
      (await store.getAsync(hooked.id))?.webhook_status,
      'PENDING',
      'kept while its webhook is due',
    );
    assert.equal((await store.getAsync(waiting.id))?.status, 'QUEUED');
  });

  test('deleting a deployment or its model deletes its async requests', async () => {
    const { store, model, deployments, enqueue } = await queueOf(ctx, ['deployment-1', 'deployment-2']);
    const first = await enqueue();
    const second = await enqueue({ deployment_id: deployments[1]!.id });
    await store.deleteDeployment(deployments[0]!.id);
    assert.equal(await store.getAsync(first.id), undefined);
    assert.ok(await store.getAsync(second.id));
    await store.deleteModel(model.id);
    assert.equal(await store.getAsync(second.id), undefined);
  });
}

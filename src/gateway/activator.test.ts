import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlinthError } from '../domain/errors.ts';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { Activator } from './activator.ts';
import type { Lease } from './activator.ts';
import { makeLeastLoaded } from './lb-policy.ts';

const opts = { maxQueue: 3, parkTimeoutMs: 60_000 };

test('requests park while no replica is ready and go out in order once one is', async () => {
  const a = new Activator(opts);
  const order: number[] = [];
  const waits = [1, 2, 3].map((n) => Promise.resolve(a.acquire()).then((lease) => (order.push(n), lease)));
  assert.equal(a.queued, 3);
  a.setReplicas([{ id: 'r1', address: 'x:1' }], 2);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [1, 2]);
  assert.equal(a.inFlight, 2);
  const [first] = (await Promise.all(waits.slice(0, 2))) as Lease[];
  first!.release();
  first!.release(); // twice is harmless
  const third = await waits[2]!;
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(third.replica.id, 'r1');
  assert.equal(a.inFlight, 2);
});

test('a replica never gets more than its capacity; the least loaded is chosen', () => {
  const a = new Activator(opts);
  a.setReplicas(
    [
      { id: 'r1', address: 'a' },
      { id: 'r2', address: 'b' },
    ],
    2,
  );
  const leases = [a.acquire(), a.acquire(), a.acquire(), a.acquire()] as Lease[];
  const counts = new Map<string, number>();
  for (const l of leases) counts.set(l.replica.id, (counts.get(l.replica.id) ?? 0) + 1);
  assert.deepEqual([...counts.entries()].sort(), [
    ['r1', 2],
    ['r2', 2],
  ]);
  assert.ok(a.acquire() instanceof Promise);
});

test('a full queue is refused with QUEUE_FULL; a failed deployment releases parked requests', async () => {
  const a = new Activator(opts);
  const parked = [a.acquire(), a.acquire(), a.acquire()];
  await assert.rejects(
    Promise.resolve(a.acquire()),
    (e: unknown) => e instanceof PlinthError && e.code === 'QUEUE_FULL',
  );
  a.fail(new PlinthError('DEPLOYMENT_FAILED', 'load() failed: boom'));
  for (const p of parked) await assert.rejects(Promise.resolve(p), /load\(\) failed: boom/);
  await assert.rejects(Promise.resolve(a.acquire()), /boom/);
  a.setReplicas([{ id: 'r1', address: 'a' }], 1);
  assert.ok(!(a.acquire() instanceof Promise));
});

test('a parked request past its timeout gets GATEWAY_TIMEOUT', async () => {
  const a = new Activator({ maxQueue: 10, parkTimeoutMs: 20 });
  const keepAlive = setTimeout(() => {}, 5000); // park timers do not hold the process open
  await assert.rejects(
    Promise.resolve(a.acquire()),
    (e: unknown) => e instanceof PlinthError && e.code === 'GATEWAY_TIMEOUT',
  );
  assert.equal(a.queued, 0);
  clearTimeout(keepAlive);
});

test('least-loaded policy skips full replicas and prefers idle ones', () => {
  const pick = makeLeastLoaded();
  const r = (id: string, inFlight: number, capacity = 4) => ({ id, address: id, inFlight, capacity });
  assert.equal(pick([r('a', 3), r('b', 1), r('c', 2)])?.id, 'b');
  assert.equal(pick([r('a', 4), r('b', 4)]), undefined);
  assert.equal(pick([]), undefined);
  const seen = new Set([0, 1, 2, 3].map(() => pick([r('a', 0), r('b', 0)])!.id));
  assert.deepEqual([...seen].sort(), ['a', 'b']);
});

test('a broken replica is no longer chosen', () => {
  const a = new Activator(opts);
  a.setReplicas(
    [
      { id: 'r1', address: 'a' },
      { id: 'r2', address: 'b' },
    ],
    4,
  );
  a.markBroken('r1');
  const picks = [a.acquire(), a.acquire(), a.acquire()] as Lease[];
  assert.deepEqual([...new Set(picks.map((l) => l.replica.id))], ['r2']);
});

test('requests leased to a replica still count after it leaves the ready set (it is draining)', () => {
  const a = new Activator(opts);
  a.setReplicas([{ id: 'r1', address: 'x:1' }], 2);
  const lease = a.acquire() as Lease;
  a.setReplicas([{ id: 'r2', address: 'x:2' }], 2);
  assert.equal(a.inFlightOn('r1'), 1, 'the stop of r1 must wait for this request');
  lease.release();
  assert.equal(a.inFlightOn('r1'), 0);
});

test('a parked request times out exactly when its park timeout is over, on the clock', async () => {
  const clock = new FakeClock();
  const a = new Activator({ maxQueue: 3, parkTimeoutMs: 5000, clock });
  let outcome: unknown = 'parked';
  void Promise.resolve(a.acquire()).then(
    () => (outcome = 'leased'),
    (err: PlinthError) => (outcome = err.code),
  );
  await clock.advance(4999);
  assert.equal(outcome, 'parked');
  assert.equal(a.queued, 1);
  await clock.advance(1);
  assert.equal(outcome, 'GATEWAY_TIMEOUT');
  assert.equal(a.queued, 0, 'it left the queue');
  assert.equal(clock.pending, 0, 'no timer left behind');
});

test('a draining replica gets no new request and reports when its last one finishes', async () => {
  const a = new Activator(opts);
  a.setReplicas(
    [
      { id: 'r1', address: 'a' },
      { id: 'r2', address: 'b' },
    ],
    1,
  );
  const leases = [a.acquire(), a.acquire()] as Lease[];
  const onR1 = leases.find((l) => l.replica.id === 'r1')!;
  const onR2 = leases.find((l) => l.replica.id === 'r2')!;
  let drained = false;
  void a.drained('r1').then(() => (drained = true));
  // The backend still lists it ready until it stops it: it stays out.
  a.setReplicas(
    [
      { id: 'r1', address: 'a' },
      { id: 'r2', address: 'b' },
    ],
    1,
  );
  onR2.release();
  assert.equal((a.acquire() as Lease).replica.id, 'r2', 'new requests go elsewhere');
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, false, 'a request is still in flight on it');
  onR1.release();
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, true);
  let idle = false;
  void a.drained('r9').then(() => (idle = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(idle, true, 'a replica with nothing in flight is drained at once');
});

test('a parked request whose client went away leaves the queue at once: no ghost fills it', async () => {
  const a = new Activator({ maxQueue: 2, parkTimeoutMs: 60_000 });
  const gone = [a.acquire(), a.acquire()] as Promise<Lease>[];
  for (const p of gone) p.catch(() => undefined);
  assert.equal(a.queued, 2);
  for (const p of gone) a.cancel(p);
  assert.equal(a.queued, 0, 'both withdrawn');
  await assert.rejects(gone[0]!, (err: PlinthError) => err.code === 'CLIENT_GONE');
  // A real request now parks (the queue is not full of ghosts) and is served when a replica comes.
  const real = a.acquire();
  assert.ok(real instanceof Promise);
  a.setReplicas([{ id: 'r1', address: 'x:1' }], 1);
  assert.equal((await real).replica.id, 'r1');
  assert.equal(a.inFlight, 1, 'the withdrawn ones took no slot');
});

test('background (async) requests wait behind every foreground one, and take a free slot only when none waits', async () => {
  const a = new Activator({ maxQueue: 10, parkTimeoutMs: 60_000 });
  a.setReplicas([{ id: 'r1', address: 'a' }], 1);
  const busy = a.acquire() as Lease;
  const order: string[] = [];
  const take = (name: string, background: boolean) =>
    Promise.resolve(a.acquire(background)).then((lease) => {
      order.push(name);
      return lease;
    });
  const waits = [take('bg1', true), take('fg1', false), take('bg2', true), take('fg2', false)];
  assert.equal(a.queued, 4);
  // One slot: each release hands it to the next in line.
  busy.release();
  for (const next of [1, 3, 0, 2]) (await waits[next]!).release();
  assert.deepEqual(order, ['fg1', 'fg2', 'bg1', 'bg2']);
  // With nothing waiting, a background request takes a free slot at once.
  assert.ok(!(a.acquire(true) instanceof Promise));
});

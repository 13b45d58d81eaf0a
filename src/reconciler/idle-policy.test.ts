// The inactivity decision through time: quiet since the latest of creation, last request and last
// start; never while building, starting, failed, inactive, in a promotion or kept awake.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEPLOYMENT_STATUSES } from '../domain/deployment-status.ts';
import type { IdleCandidate } from './idle-policy.ts';
import { deactivatesWhenIdle, idleDeployments, idleReason, lastStartedMs } from './idle-policy.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

const candidate = (over: Partial<IdleCandidate> = {}): IdleCandidate => ({
  id: 'd1',
  status: 'ACTIVE',
  createdMs: T0,
  lastRequestMs: null,
  lastStartedMs: null,
  busy: false,
  inPromotion: false,
  keptAwake: false,
  ...over,
});

const idleAt = (nowMs: number, c: IdleCandidate, idleMs = 14 * DAY) =>
  idleDeployments({ nowMs, idleMs, candidates: [c] });

test('a deployment never called is idle once the period has passed since it was created', () => {
  const c = candidate();
  assert.deepEqual(idleAt(T0 + 14 * DAY - 1, c), []);
  assert.deepEqual(idleAt(T0 + 14 * DAY, c), [{ id: 'd1', quietSinceMs: T0 }]);
});

test('each request starts the period again; so does a start, an activation or a wake', () => {
  const called = candidate({ lastRequestMs: T0 + 10 * DAY });
  assert.deepEqual(idleAt(T0 + 20 * DAY, called), [], 'called 10 days ago');
  assert.deepEqual(idleAt(T0 + 24 * DAY, called), [{ id: 'd1', quietSinceMs: T0 + 10 * DAY }]);
  const reactivated = candidate({ lastRequestMs: T0 + DAY, lastStartedMs: T0 + 30 * DAY });
  assert.deepEqual(idleAt(T0 + 31 * DAY, reactivated), [], 'activated a day ago, after a long quiet');
  assert.deepEqual(idleAt(T0 + 44 * DAY, reactivated), [{ id: 'd1', quietSinceMs: T0 + 30 * DAY }]);
});

test('only serving, scaled-to-zero and unhealthy deployments are deactivated', () => {
  const late = T0 + 100 * DAY;
  const deactivated = DEPLOYMENT_STATUSES.filter((status) => idleAt(late, candidate({ status })).length > 0);
  assert.deepEqual(deactivated, ['ACTIVE', 'SCALED_TO_ZERO', 'UNHEALTHY']);
  for (const status of [
    'BUILDING',
    'DEPLOYING',
    'UPDATING',
    'WAKING_UP',
    'DEACTIVATING',
    'INACTIVE',
  ] as const)
    assert.equal(deactivatesWhenIdle(status), false, status);
});

test('a deployment serving a request now, in a promotion in progress, or kept awake by a watch, is never deactivated', () => {
  const late = T0 + 100 * DAY;
  assert.deepEqual(idleAt(late, candidate({ busy: true })), [], 'a stream that began long ago and goes on');
  assert.deepEqual(idleAt(late, candidate({ inPromotion: true })), []);
  assert.deepEqual(idleAt(late, candidate({ keptAwake: true })), []);
});

test('of several deployments, exactly the idle ones are named', () => {
  const now = T0 + 3000;
  const decided = idleDeployments({
    nowMs: now,
    idleMs: 3000,
    candidates: [
      candidate({ id: 'quiet' }),
      candidate({ id: 'busy', lastRequestMs: now - 1000 }),
      candidate({ id: 'zero', status: 'SCALED_TO_ZERO', lastRequestMs: now - 3000 }),
      candidate({ id: 'building', status: 'BUILDING' }),
    ],
  });
  assert.deepEqual(
    decided.map((d) => d.id),
    ['quiet', 'zero'],
  );
});

test('the last start is the latest event into DEPLOYING, WAKING_UP or ACTIVE', () => {
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();
  assert.equal(lastStartedMs([]), null);
  assert.equal(
    lastStartedMs([
      { time: at(1), to_status: 'BUILDING' },
      { time: at(2), to_status: 'DEPLOYING' },
      { time: at(3), to_status: 'ACTIVE' },
      { time: at(4), to_status: 'SCALED_TO_ZERO' },
      { time: at(9), to_status: 'INACTIVE' },
    ]),
    T0 + 3000,
  );
  assert.equal(lastStartedMs([{ time: at(7), to_status: 'WAKING_UP' }]), T0 + 7000);
});

test('the reason says how long in the unit it was given', () => {
  assert.equal(idleReason(14 * 86_400), 'no traffic for 14d');
  assert.equal(idleReason(3), 'no traffic for 3s');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Promotion } from '../domain/types.ts';
import { actOnPromotion, rampPercent, stepPromotion } from './promotion-steps.ts';
import type { CandidateObservation } from './promotion-steps.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

function promotion(overrides: Partial<Promotion> = {}): Promotion {
  return {
    id: 'p1',
    model_id: 'm1',
    environment_id: 'e1',
    environment_name: 'production',
    from_deployment_id: 'd-old',
    to_deployment_id: 'd-new',
    status: 'IN_PROGRESS',
    phase: 'WAITING_FOR_REPLICAS',
    traffic_percent: 0,
    cleanup_strategy: 'SCALE_TO_ZERO',
    ramp_up_duration_seconds: 0,
    replicas_needed: 2,
    requested_by: 'admin',
    reason: null,
    started_at: new Date(T0).toISOString(),
    ramp_started_at: null,
    finished_at: null,
    paused_at: null,
    rolling: null,
    actions: [],
    ...overrides,
  };
}

/** Applies steps through a fake clock, as the controller would. */
function run(p: Promotion, observations: [number, Omit<CandidateObservation, 'nowMs'>][]): Promotion[] {
  const states: Promotion[] = [];
  let current = p;
  for (const [atS, o] of observations) {
    const patch = stepPromotion(current, { ...o, nowMs: T0 + atS * 1000 });
    if (patch) current = { ...current, ...patch };
    states.push(current);
  }
  return states;
}

test('no traffic moves until the candidate has the replicas it needs', () => {
  const states = run(promotion(), [
    [1, { status: 'BUILDING', readyReplicas: 0 }],
    [2, { status: 'LOADING_MODEL', readyReplicas: 0 }],
    [3, { status: 'ACTIVE', readyReplicas: 1 }],
    [4, { status: 'ACTIVE', readyReplicas: 2 }],
  ]);
  assert.deepEqual(
    states.map((s) => [s.status, s.phase, s.traffic_percent]),
    [
      ['IN_PROGRESS', 'WAITING_FOR_REPLICAS', 0],
      ['IN_PROGRESS', 'WAITING_FOR_REPLICAS', 0],
      ['IN_PROGRESS', 'WAITING_FOR_REPLICAS', 0],
      ['SUCCEEDED', 'DONE', 100],
    ],
  );
  assert.equal(states[3]!.finished_at, new Date(T0 + 4000).toISOString());
});

test('a ramp moves traffic in even steps over its duration', () => {
  const states = run(promotion({ ramp_up_duration_seconds: 10, replicas_needed: 1 }), [
    [0, { status: 'ACTIVE', readyReplicas: 1 }],
    [1, { status: 'ACTIVE', readyReplicas: 1 }],
    [2, { status: 'ACTIVE', readyReplicas: 1 }],
    [4.5, { status: 'ACTIVE', readyReplicas: 1 }],
    [6, { status: 'ACTIVE', readyReplicas: 1 }],
    [9.9, { status: 'ACTIVE', readyReplicas: 1 }],
    [10, { status: 'ACTIVE', readyReplicas: 1 }],
  ]);
  assert.deepEqual(
    states.map((s) => s.traffic_percent),
    [20, 20, 40, 60, 80, 80, 100],
  );
  assert.equal(states.at(-1)!.status, 'SUCCEEDED');
  assert.deepEqual(
    [0, 1999, 2000, 5000, 9999].map((ms) => rampPercent(ms, 10_000)),
    [20, 20, 40, 60, 80],
  );
});

test('a candidate that fails, or loses its replicas mid-ramp, fails the promotion with traffic back on the old one', () => {
  const failed = run(promotion(), [[1, { status: 'DEPLOY_FAILED', readyReplicas: 0 }]]);
  assert.deepEqual([failed[0]!.status, failed[0]!.traffic_percent], ['FAILED', 0]);
  assert.match(failed[0]!.reason!, /DEPLOY_FAILED/);
  const lost = run(promotion({ ramp_up_duration_seconds: 10, replicas_needed: 1 }), [
    [0, { status: 'ACTIVE', readyReplicas: 1 }],
    [3, { status: 'ACTIVE', readyReplicas: 0 }],
  ]);
  assert.deepEqual(
    lost.map((s) => [s.status, s.traffic_percent]),
    [
      ['IN_PROGRESS', 20],
      ['FAILED', 0],
    ],
  );
  const deleted = run(promotion(), [[1, { status: undefined, readyReplicas: 0 }]]);
  assert.equal(deleted[0]!.status, 'FAILED');
});

test('a server restart mid-ramp resumes from the stored state, not from the start', () => {
  // Before the restart: ramping for 4 s of 10.
  const before = run(promotion({ ramp_up_duration_seconds: 10, replicas_needed: 1 }), [
    [0, { status: 'ACTIVE', readyReplicas: 1 }],
    [4, { status: 'ACTIVE', readyReplicas: 1 }],
  ]).at(-1)!;
  // The restarted server reads the stored promotion; its candidate is still starting replicas.
  const stored: Promotion = JSON.parse(JSON.stringify(before));
  const after = run(stored, [[5, { status: 'ACTIVE', readyReplicas: 0 }]]);
  assert.equal(after[0]!.status, 'FAILED', 'no ready candidate after the restart: traffic goes back');
  const resumed = run(stored, [
    [6, { status: 'ACTIVE', readyReplicas: 1 }],
    [10, { status: 'ACTIVE', readyReplicas: 1 }],
  ]);
  assert.deepEqual(
    resumed.map((s) => [s.status, s.traffic_percent]),
    [
      ['IN_PROGRESS', 80],
      ['SUCCEEDED', 100],
    ],
  );
  const waiting = run(promotion(), [[30, { status: 'DEPLOYING', readyReplicas: 0 }]]);
  assert.equal(
    waiting[0]!.status,
    'IN_PROGRESS',
    'a restart while waiting keeps waiting; the environment still points at the old deployment',
  );
});

test('cancelling sends all traffic back; finished promotions do not change', () => {
  const ramping = promotion({ phase: 'RAMPING', traffic_percent: 60 });
  assert.deepEqual({ ...ramping, ...(actOnPromotion(ramping, 'cancel', T0) as object) }.traffic_percent, 0);
  assert.equal(
    actOnPromotion({ ...ramping, status: 'SUCCEEDED' }, 'cancel', T0),
    'the promotion is SUCCEEDED',
  );
  assert.equal(
    stepPromotion({ ...ramping, status: 'CANCELLED' }, { nowMs: T0, status: 'ACTIVE', readyReplicas: 1 }),
    null,
  );
});

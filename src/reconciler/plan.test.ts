import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planReplicas, restartBackoffMs } from './plan.ts';
import type { ActualReplica, ReplicaAction } from './plan.ts';
import { nextStatus } from './status-rules.ts';
import { DEPLOYMENT_STATUSES, canMove } from '../domain/deployment-status.ts';
import type { ReplicaPhase } from '../runtime/backend.ts';
import type { StatusInput } from './status-rules.ts';

const r = (id: string, phase: ActualReplica['phase'], startedAtMs = 0): ActualReplica => ({
  id,
  phase,
  startedAtMs,
});

test('replica plans: desired vs actual → actions', () => {
  const table: [string, number, ActualReplica[], ReplicaAction[], number?][] = [
    ['nothing running, one wanted', 1, [], [{ type: 'start' }]],
    ['two wanted', 2, [], [{ type: 'start' }, { type: 'start' }]],
    ['steady', 1, [r('a', 'READY')], []],
    ['a starting one counts', 1, [r('a', 'STARTING')], []],
    ['draining ones do not count', 1, [r('a', 'DRAINING')], [{ type: 'start' }]],
    ['stopped ones do not count', 1, [r('a', 'STOPPED'), r('b', 'FAILED')], [{ type: 'start' }]],
    [
      'scale to zero stops all',
      0,
      [r('a', 'READY'), r('b', 'STARTING')],
      [
        { type: 'stop', replicaId: 'b' },
        { type: 'stop', replicaId: 'a' },
      ],
    ],
    [
      'starting before ready',
      1,
      [r('a', 'READY', 1), r('b', 'STARTING', 0)],
      [{ type: 'stop', replicaId: 'b' }],
    ],
    ['newest ready first', 1, [r('a', 'READY', 1), r('b', 'READY', 5)], [{ type: 'stop', replicaId: 'b' }]],
    [
      'idle before busy',
      1,
      [
        { ...r('a', 'READY', 1), inFlight: 0 },
        { ...r('b', 'READY', 5), inFlight: 3 },
      ],
      [{ type: 'stop', replicaId: 'a' }],
    ],
    ['no start inside the backoff', 1, [], [], 2000],
  ];
  for (const [name, desired, replicas, expected, notBefore] of table) {
    assert.deepEqual(
      planReplicas({ desired, replicas, startNotBeforeMs: notBefore ?? 0, nowMs: 1000 }),
      expected,
      name,
    );
  }
});

test('restart backoff grows and is capped', () => {
  assert.deepEqual([0, 1, 2, 3, 10, 20].map(restartBackoffMs), [0, 500, 1000, 2000, 30000, 30000]);
});

test('status rules follow the deployment state machine', () => {
  const base: StatusInput = {
    status: 'DEPLOYING',
    desired: 1,
    phases: [],
    hasServed: false,
    consecutiveFailures: 0,
    lastFailure: null,
  };
  assert.equal(nextStatus(base), null);
  assert.equal(nextStatus({ ...base, phases: ['STARTING'] })?.status, 'LOADING_MODEL');
  assert.equal(nextStatus({ ...base, status: 'LOADING_MODEL', phases: ['READY'] })?.status, 'ACTIVE');
  assert.equal(nextStatus({ ...base, status: 'ACTIVE', phases: ['READY'] }), null);
  const failed = nextStatus({
    ...base,
    status: 'LOADING_MODEL',
    consecutiveFailures: 3,
    lastFailure: 'load() failed: boom',
  });
  assert.equal(failed?.status, 'DEPLOY_FAILED');
  assert.match(failed!.reason, /3 failed starts in a row; last: load\(\) failed: boom/);
  assert.equal(
    nextStatus({ ...base, status: 'ACTIVE', hasServed: true, consecutiveFailures: 3 })?.status,
    'UNHEALTHY',
  );
  assert.equal(
    nextStatus({ ...base, status: 'UNHEALTHY', hasServed: true, phases: ['READY'] })?.status,
    'ACTIVE',
  );
  assert.equal(nextStatus({ ...base, status: 'BUILD_FAILED', phases: ['READY'] }), null);
  assert.equal(
    nextStatus({ ...base, status: 'LOADING_MODEL', consecutiveFailures: 2, phases: ['STARTING'] }),
    null,
  );
});

test('the status rules only ever pick a move the state machine allows', () => {
  const phaseSets: ReplicaPhase[][] = [
    [],
    ['STARTING'],
    ['READY'],
    ['DRAINING'],
    ['STARTING', 'READY'],
    ['FAILED'],
  ];
  for (const status of DEPLOYMENT_STATUSES) {
    for (const phases of phaseSets) {
      for (const hasServed of [false, true]) {
        for (const consecutiveFailures of [0, 2, 3, 5]) {
          const decision = nextStatus({
            status,
            desired: 1,
            phases,
            hasServed,
            consecutiveFailures,
            lastFailure: 'x',
          });
          if (decision) {
            assert.ok(
              canMove(status, decision.status),
              `${status} → ${decision.status} (phases ${phases.join(',')}, served ${hasServed}) is not in the table`,
            );
          }
        }
      }
    }
  }
});

test('a changed instance type replaces replicas one by one, new before old, never below the desired ready count', () => {
  // Two ready replicas of the old type; step the plan as the reconciler would, new ones becoming ready.
  let replicas: ActualReplica[] = [
    { ...r('o1', 'READY', 1), outdated: true },
    { ...r('o2', 'READY', 2), outdated: true, inFlight: 1 },
  ];
  let n = 0;
  const readyCounts: number[] = [];
  for (let step = 0; step < 10 && replicas.some((x) => x.outdated); step++) {
    const actions = planReplicas({ desired: 2, replicas, startNotBeforeMs: 0, nowMs: 0 });
    assert.ok(actions.filter((a) => a.type === 'start').length <= 1, 'one new replica at a time');
    for (const a of actions) {
      if (a.type === 'start') replicas.push(r(`n${++n}`, 'STARTING', 10 + n));
      else replicas = replicas.filter((x) => x.id !== a.replicaId);
    }
    readyCounts.push(replicas.filter((x) => x.phase === 'READY').length);
    replicas = replicas.map((x) => (x.phase === 'STARTING' ? { ...x, phase: 'READY' } : x));
  }
  assert.deepEqual(
    replicas.map((x) => [x.id, x.phase, Boolean(x.outdated)]),
    [
      ['n1', 'READY', false],
      ['n2', 'READY', false],
    ],
  );
  assert.ok(
    readyCounts.every((c) => c >= 2),
    `ready replicas never below 2: ${readyCounts.join(', ')}`,
  );
  assert.deepEqual(
    planReplicas({
      desired: 2,
      replicas: [
        { ...r('o1', 'READY'), outdated: true },
        { ...r('o2', 'READY'), outdated: true, inFlight: 3 },
        r('n1', 'READY'),
      ],
      startNotBeforeMs: 0,
      nowMs: 0,
    }),
    [{ type: 'start' }, { type: 'stop', replicaId: 'o1' }],
    'the idle old replica goes first',
  );
});

test('one replica at a time (a fixed port): an outdated replica is stopped before its replacement starts', () => {
  const replicas = [{ id: 'old', phase: 'READY' as const, startedAtMs: 0, outdated: true }];
  assert.deepEqual(planReplicas({ desired: 1, replicas, startNotBeforeMs: 0, nowMs: 1, oneAtATime: true }), [
    { type: 'stop', replicaId: 'old' },
  ]);
  // Then, with it gone, the new one starts.
  assert.deepEqual(
    planReplicas({ desired: 1, replicas: [], startNotBeforeMs: 0, nowMs: 1, oneAtATime: true }),
    [{ type: 'start' }],
  );
  // New before old otherwise.
  assert.deepEqual(planReplicas({ desired: 1, replicas, startNotBeforeMs: 0, nowMs: 1 }), [
    { type: 'start' },
  ]);
});

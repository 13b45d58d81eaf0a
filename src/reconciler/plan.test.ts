import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planReplicas, restartBackoffMs } from './plan.ts';
import type { ActualReplica, ReplicaAction } from './plan.ts';
import { nextStatus } from './status-rules.ts';
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

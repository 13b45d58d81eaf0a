// The chaos run's checks, on made-up records: which failures a fault excuses and which it does
// not, answers from deployments that did not serve, end states, queues and memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkFailures,
  checkMemory,
  checkServedVersions,
  endStateProblems,
  queuedNotDrained,
  ServingHistory,
} from './invariants.ts';
import type { EnvSample, ReplicaSample, RequestRecord, TimelineEvent } from './records.ts';

const T = 1_000_000;

function req(startS: number, endS: number, patch: Partial<RequestRecord> = {}): RequestRecord {
  return {
    client: 'c',
    target: 'server',
    process: 'server',
    model: 'alpha',
    startMs: T + startS * 1000,
    endMs: T + endS * 1000,
    outcome: 'failed',
    status: 0,
    errorClass: 'reset',
    version: null,
    ...patch,
  };
}

/** Production of alpha read every 250 ms: d1 until `switchS`, then d2. */
function samples(untilS: number, switchS = Infinity): EnvSample[] {
  const out: EnvSample[] = [];
  for (let t = 0; t <= untilS * 1000; t += 250)
    out.push({
      model: 'alpha',
      sentMs: T + t,
      receivedMs: T + t + 5,
      current: t < switchS * 1000 ? 'd1' : 'd2',
      candidate: null,
    });
  return out;
}

const kill = (atS: number, othersReady = 1): TimelineEvent => ({
  kind: 'replica-killed',
  atMs: T + atS * 1000,
  model: 'alpha',
  deploymentId: 'd1',
  replicaId: 'r1',
  pid: 1,
  othersReady,
});

function verdict(requests: RequestRecord[], timeline: TimelineEvent[], replicaSamples: ReplicaSample[] = []) {
  return checkFailures({
    requests,
    timeline,
    serving: new ServingHistory(samples(30)),
    replicaSamples,
    t0: T,
  });
}

test('a request in flight on a replica the run killed is excused; one before or after is not', () => {
  const v = verdict(
    [req(9.9, 10.1, { status: 503, errorClass: 'http-503 REPLICA_UNAVAILABLE' }), req(11, 11.1)],
    [kill(10)],
  );
  assert.equal(v.byCause['replica-killed'], 1);
  assert.equal(v.violations.length, 1);
  assert.match(v.violations[0]!.detail, /1 request\(s\) failed with reset/);
});

test('a request sent just after a kill, before the platform saw the replica end, is excused too', () => {
  const v = verdict(
    [req(10.1, 10.2, { status: 503, errorClass: 'http-503 REPLICA_UNAVAILABLE' })],
    [kill(10)],
  );
  assert.equal(v.byCause['replica-killed'], 1);
  assert.deepEqual(v.violations, []);
});

test('a 500 is never excused, whatever the run did then', () => {
  const v = verdict([req(9.9, 10.1, { status: 500, errorClass: 'http-500 INTERNAL' })], [kill(10)]);
  assert.equal(v.violations[0]!.invariant, 'request-failed');
});

test('after the only ready replica was killed, a 503 is excused until another is seen ready', () => {
  const back: ReplicaSample[] = [
    { atMs: T + 11_000, model: 'alpha', deploymentId: 'd1', readyIds: [] },
    { atMs: T + 13_000, model: 'alpha', deploymentId: 'd1', readyIds: ['r2'] },
  ];
  const refused = { status: 503, errorClass: 'http-503 REPLICA_UNAVAILABLE' };
  const v = verdict([req(12, 12.5, refused), req(14, 14.1, refused)], [kill(10, 0)], back);
  assert.equal(v.byCause['nothing-could-serve'], 1);
  assert.equal(v.violations.length, 1, 'the 503 after a replica was ready again is a violation');
  const withOthers = verdict([req(12, 12.5, refused)], [kill(10, 1)], back);
  assert.equal(withOthers.violations.length, 1, 'another replica was ready: nothing excuses a 503');
});

test('connection errors while the process that takes them was down are excused, for that process only', () => {
  const down: TimelineEvent = {
    kind: 'process-down',
    process: 'server',
    fromMs: T + 5000,
    toMs: T + 7000,
    why: 'SIGKILL',
  };
  const v = verdict(
    [
      req(5.5, 5.5, { errorClass: 'refused' }),
      req(4.9, 5.0, { errorClass: 'reset' }),
      req(6, 6, { errorClass: 'refused', process: 'gateway' }),
    ],
    [down],
  );
  assert.equal(v.byCause['server-down'], 2);
  assert.equal(v.violations.length, 1);
  assert.match(v.violations[0]!.detail, /c→gateway/);
});

test('answers come from what served then, within a second either side', () => {
  const serving = new ServingHistory(samples(30, 10));
  const deploymentOf = (_m: string, v: number) => `d${v}`;
  const ok = (s: number, e: number, version: number) =>
    req(s, e, { outcome: 'ok', errorClass: '', version, status: 200 });
  assert.deepEqual(
    checkServedVersions([ok(9.5, 9.6, 2), ok(10.5, 10.6, 1), ok(3, 3.1, 1)], serving, deploymentOf, T),
    [],
  );
  const wrong = checkServedVersions([ok(15, 15.1, 1), ok(3, 3.1, 2)], serving, deploymentOf, T);
  assert.equal(wrong.length, 1);
  assert.match(wrong[0]!.detail, /^2 answer\(s\)/);
});

test('a process cut off from its store may answer from what served when the outage began, until a second after it', () => {
  const serving = new ServingHistory(samples(30, 10));
  const deploymentOf = (_m: string, v: number) => `d${v}`;
  const ok = (s: number, e: number, version: number, process = 'gateway') =>
    req(s, e, { outcome: 'ok', errorClass: '', version, status: 200, process });
  const outage: TimelineEvent = {
    kind: 'store-outage',
    process: 'gateway',
    fromMs: T + 8000,
    toMs: T + 13_000,
  };
  const answers = [
    ok(12, 12.1, 1),
    ok(13.5, 13.6, 1),
    ok(12, 12.1, 1, 'plane-a'),
    ok(15, 15.1, 1),
    ok(5, 5.1, 1),
  ];
  const verdict = checkServedVersions(answers, serving, deploymentOf, T, [outage]);
  assert.equal(verdict.length, 1);
  assert.match(verdict[0]!.detail, /^2 answer\(s\)/, 'another process, and after the slack: no excuse');
  assert.match(verdict[0]!.detail, /plane-a/);
  assert.equal(
    checkServedVersions(answers, serving, deploymentOf, T).length,
    1,
    'without the outage: 4 wrong',
  );
  assert.match(checkServedVersions(answers, serving, deploymentOf, T)[0]!.detail, /^4 answer/);
});

test('a gap in the reads longer than the slack widens what may have served', () => {
  const sparse: EnvSample[] = [
    { model: 'alpha', sentMs: T, receivedMs: T + 10, current: 'd1', candidate: null },
    { model: 'alpha', sentMs: T + 5000, receivedMs: T + 5010, current: 'd2', candidate: null },
  ];
  const history = new ServingHistory(sparse);
  assert.deepEqual([...history.during('alpha', T + 1000, T + 2000)].sort(), ['d1', 'd2']);
  assert.deepEqual([...history.during('alpha', T + 6000, T + 7000)], ['d2']);
});

test('end states: ACTIVE needs a ready replica, zero and inactive need none, transitions must end', () => {
  const d = { model: 'alpha', id: 'd1', name: 'v1', statusReason: null, ready: 1, live: 1, heldBytes: 0 };
  assert.deepEqual(
    endStateProblems([
      { ...d, status: 'ACTIVE' },
      { ...d, id: 'd2', status: 'INACTIVE', ready: 0, live: 0 },
    ]),
    [],
  );
  assert.equal(endStateProblems([{ ...d, status: 'ACTIVE', ready: 0 }]).length, 1);
  assert.equal(endStateProblems([{ ...d, status: 'SCALED_TO_ZERO', ready: 0, live: 1 }]).length, 1);
  assert.equal(endStateProblems([{ ...d, status: 'WAKING_UP' }]).length, 1);
});

test('end states: waiting for memory is a state to wait in when live replicas fill the machine, a leak when they do not', () => {
  const GiB = 1024 ** 3;
  const waiting = {
    model: 'beta',
    id: 'd9',
    name: 'v12',
    status: 'WAKING_UP',
    statusReason: 'waiting for capacity: needs 2Gi memory, 1.5Gi of 23.5Gi free',
    ready: 0,
    live: 0,
    heldBytes: 0,
  };
  const others = (heldBytes: number) => ({
    ...waiting,
    id: 'd1',
    status: 'ACTIVE',
    ready: 1,
    live: 5,
    heldBytes,
    statusReason: null,
  });
  assert.deepEqual(endStateProblems([waiting, others(22 * GiB)]), [], 'full: 22Gi held by live replicas');
  const none = { ...waiting, statusReason: 'waiting for capacity: needs 2Gi memory, 0 of 4Gi free' };
  assert.deepEqual(endStateProblems([none, others(4 * GiB)]), [], 'full to the last byte');
  const [leak] = endStateProblems([waiting, others(12 * GiB)]);
  assert.match(leak!, /reserves 22Gi, its live replicas hold 12Gi/);
  // The backend's count agrees with the replicas, yet the deployment waits: still a problem.
  const stuck = { ...waiting, statusReason: 'waiting for capacity: needs 2Gi memory, 21.5Gi of 23.5Gi free' };
  assert.equal(endStateProblems([stuck, others(2 * GiB)]).length, 1);
});

test('queued counts: any plinth_concurrent_requests sample other than 0', () => {
  const text = [
    '# HELP plinth_concurrent_requests Requests in flight or queued at the gateway.',
    'plinth_concurrent_requests{model_id="m1",deployment_id="d1"} 0',
    'plinth_concurrent_requests{model_id="m1",deployment_id="d2"} 2',
    'plinth_replicas_active{model_id="m1"} 3',
  ].join('\n');
  assert.deepEqual(queuedNotDrained(text), [
    'plinth_concurrent_requests{model_id="m1",deployment_id="d2"} 2',
  ]);
});

test('memory: the peak is reported; growth is flagged only over a long enough life', () => {
  const rising = Array.from({ length: 100 }, (_, i) => ({
    process: 'server',
    incarnation: 0,
    atMs: T + i * 2000,
    rssBytes: (100 + i * 2) * 1024 ** 2,
  }));
  const v = checkMemory(rising);
  assert.equal(v.peakBytes.server, 298 * 1024 ** 2);
  assert.equal(v.violations.length, 1);
  assert.equal(checkMemory(rising.slice(0, 50)).violations.length, 0, 'under three minutes: not judged');
  const flat = rising.map((s) => ({ ...s, rssBytes: 150 * 1024 ** 2 }));
  assert.equal(checkMemory(flat).violations.length, 0);
});

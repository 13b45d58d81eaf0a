import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import type { AutoscalingSettings } from '../domain/autoscaling.ts';
import { decideScale, scaleForQueue } from './policy.ts';
import type { ConcurrencySample, PolicyState } from './policy.ts';

const settings: AutoscalingSettings = {
  ...DEFAULT_AUTOSCALING,
  min_replica: 0,
  max_replica: 10,
  concurrency_target: 2,
  target_utilization_percentage: 100,
  autoscaling_window: 60,
  scale_down_delay: 120,
};

/** Steps the policy second by second through a concurrency trace, as the driver would. */
function simulate(trace: (second: number) => number, seconds: number, start = 1, s = settings): number[] {
  const samples: ConcurrencySample[] = [];
  let current = start;
  let state: PolicyState | null = null;
  const replicas: number[] = [];
  for (let t = 1; t <= seconds; t++) {
    samples.push({ timeMs: t * 1000, concurrency: trace(t) });
    const d = decideScale({ nowMs: t * 1000, settings: s, samples, current, previous: state });
    current = d.desired;
    state = d.state;
    replicas.push(current);
  }
  return replicas;
}

test('steady load settles at concurrency ÷ target', () => {
  const r = simulate(() => 6, 120);
  assert.equal(r.at(-1), 3);
  assert.ok(r.every((n) => n <= 3));
});

test('a burst scales up from the panic window before the long window catches up', () => {
  const r = simulate((t) => (t <= 60 ? 2 : 20), 66);
  assert.equal(r[59], 1);
  assert.ok(r[60]! >= 2, 'the first second of the burst already scales up');
  // Six seconds in, the 60 s average (3.8 → 2 replicas) lags; the panic window asks for 10.
  assert.equal(r[65], 10);
});

test('falling load holds the replicas for scale_down_delay, then drops once (no flapping)', () => {
  const r = simulate((t) => (t <= 100 ? 10 : 2), 400);
  assert.equal(r[99], 5);
  const firstDrop = r.findIndex((n, i) => i > 100 && n < 5);
  assert.ok(firstDrop >= 100 + 120 - 1, `held until the delay was over (dropped at ${firstDrop})`);
  const after = r.slice(100);
  assert.ok(
    after.every((n, i) => i === 0 || n <= after[i - 1]!),
    'only ever down once the load fell: no back and forth',
  );
  assert.equal(r.at(-1), 1);
});

test('oscillating load shorter than the delay causes no scale-down', () => {
  const r = simulate((t) => (t % 40 < 20 ? 8 : 0), 300, 4);
  assert.ok(
    r.slice(60).every((n) => n >= 2),
    'never dropped during the oscillation',
  );
});

test('idle goes to zero after the delay, and a request at zero wakes at once', () => {
  const idle = simulate((t) => (t <= 10 ? 1 : 0), 10 + 60 + 120 + 5);
  assert.equal(idle.at(-1), 0);
  const wake = decideScale({
    nowMs: 1000,
    settings,
    samples: [{ timeMs: 1000, concurrency: 1 }],
    current: 0,
    previous: null,
  });
  assert.equal(wake.desired, 1);
});

test('min and max clamp the answer; a lowered max applies at once', () => {
  assert.equal(simulate(() => 100, 5, 1, { ...settings, max_replica: 3 }).at(-1), 3);
  assert.equal(simulate(() => 100, 1, 6, { ...settings, max_replica: 3 })[0], 3);
  assert.equal(simulate(() => 0, 400, 2, { ...settings, min_replica: 2 }).at(-1), 2);
});

test('a request that queues scales up at once to a slot for every waiting request', () => {
  const queued = scaleForQueue({ nowMs: 5000, settings, concurrency: 7, current: 2, previous: null });
  assert.equal(queued?.desired, 4, '7 in flight or waiting at 2 each need 4 replicas');
  assert.equal(scaleForQueue({ nowMs: 5000, settings, concurrency: 4, current: 2, previous: null }), null);
  const capped = scaleForQueue({
    nowMs: 5000,
    settings: { ...settings, max_replica: 3 },
    concurrency: 50,
    current: 2,
    previous: null,
  });
  assert.equal(capped?.desired, 3);
});

test('after a queue scale-up, scaling down still waits scale_down_delay', () => {
  const samples: ConcurrencySample[] = [];
  let state: PolicyState | null = null;
  let current = 1;
  const replicas: number[] = [];
  for (let t = 1; t <= 200; t++) {
    samples.push({ timeMs: t * 1000, concurrency: t === 10 ? 9 : 0.5 });
    if (t === 10) {
      const q = scaleForQueue({ nowMs: t * 1000 - 500, settings, concurrency: 9, current, previous: state })!;
      current = q.desired;
      state = q.state;
    }
    const d = decideScale({ nowMs: t * 1000, settings, samples, current, previous: state });
    current = d.desired;
    state = d.state;
    replicas.push(current);
  }
  assert.equal(replicas[9], 5, 'the queue asked for 5 before the tick');
  const firstDrop = replicas.findIndex((n, i) => i > 9 && n < 5);
  assert.ok(firstDrop >= 9 + 120, `held for the delay (dropped at ${firstDrop + 1} s)`);
  assert.equal(replicas.at(-1), 1);
});

/** The seconds at which the count fell (from `start`), with the counts before and after. */
function drops(replicas: number[], start = 1): { atS: number; from: number; to: number }[] {
  const out: { atS: number; from: number; to: number }[] = [];
  replicas.forEach((n, i) => {
    const before = i === 0 ? start : replicas[i - 1]!;
    if (n < before) out.push({ atS: i + 1, from: before, to: n });
  });
  return out;
}

const rated: AutoscalingSettings = {
  ...settings,
  max_replica: 20,
  autoscaling_window: 10,
  scale_down_delay: 30,
  max_scale_down_rate: 25,
};
/** 40 in flight (20 replicas at 2 each) for 100 s, then nothing. */
const loadStops = (t: number): number => (t <= 100 ? 40 : 0);

test('max_scale_down_rate: after the delay, each window removes at most that percent of the replicas', () => {
  const r = simulate(loadStops, 300, 1, rated);
  assert.equal(r[99], 20);
  const steps = drops(r);
  assert.ok(steps[0]!.atS >= 101 + 30, `the delay applies first (first step at ${steps[0]!.atS} s)`);
  for (const [i, s] of steps.entries()) {
    assert.ok(
      s.from - s.to <= Math.max(1, Math.floor(s.from / 4)),
      `step ${s.from} → ${s.to} at ${s.atS} s removes at most a quarter`,
    );
    if (i > 0) assert.ok(s.atS - steps[i - 1]!.atS >= 10, `one step per 10 s window (${s.atS} s)`);
  }
  // As without a rate, the first step goes to the most asked for during the delay (18), and the
  // next target (0) waits for a second delay; then floor(25%) of 18, 14, 11 and 9, and one
  // replica a window from 7 down.
  assert.deepEqual(
    steps.map((s) => s.to),
    [18, 14, 11, 9, 7, 6, 5, 4, 3, 2, 1, 0],
  );
  assert.deepEqual(
    steps.map((s) => s.atS),
    [131, 162, 172, 182, 192, 202, 212, 222, 232, 242, 252, 262],
  );
});

test('without max_scale_down_rate the same drop drains the deployment at once', () => {
  const r = simulate(loadStops, 300, 1, { ...rated, max_scale_down_rate: null });
  assert.deepEqual(drops(r), [
    { atS: 131, from: 20, to: 18 },
    { atS: 162, from: 18, to: 0 },
  ]);
});

test('max_scale_down_rate at small counts removes one replica a window (never zero)', () => {
  for (const [rate, start, expected] of [
    [1, 3, [2, 1, 0]],
    [25, 3, [2, 1, 0]],
    [50, 3, [2, 1, 0]],
    [50, 4, [2, 1, 0]],
    [50, 9, [5, 3, 2, 1, 0]],
  ] as const) {
    const s = { ...rated, scale_down_delay: 0, max_scale_down_rate: rate };
    const steps = drops(
      simulate(() => 0, 120, start, s),
      start,
    );
    assert.deepEqual(
      steps.map((x) => x.to),
      expected,
      `rate ${rate}% from ${start}`,
    );
    assert.ok(
      steps.every((x, i) => i === 0 || x.atS - steps[i - 1]!.atS === 10),
      `rate ${rate}% from ${start}: a window apart (${steps.map((x) => x.atS).join(', ')})`,
    );
  }
});

test('max_scale_down_rate never slows a scale-up, and a new drop waits for the delay again', () => {
  // Load stops at 100 s, bursts back at 205 s (3 s after a step down) and stops again at 250 s.
  const r = simulate((t) => (t <= 100 || (t > 205 && t <= 250) ? 40 : 0), 450, 1, rated);
  assert.equal(r[204], 6, 'part of the way down at 205 s, one step at 202 s');
  assert.equal(r[205], 20, 'back to 20 in the first second of the burst, within the window of that step');
  const again = drops(r).filter((s) => s.atS > 206);
  assert.ok(again[0]!.atS >= 251 + 30, `the delay applies again (${again[0]!.atS} s)`);
  assert.ok(again.every((s) => s.from - s.to <= Math.max(1, Math.floor(s.from / 4))));
  assert.equal(r.at(-1), 0);
});

// A control loop stepped through a fake clock: passes on the interval, never overlapping; a failing
// pass is logged, counted and retried with a growing wait, and never escapes as a rejection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { ControlLoop, LoopHealth } from './control-loop.ts';

test('passes run now and on the interval; kicks during a pass ask for one more, not one each', async () => {
  const clock = new FakeClock();
  let passes = 0;
  let release!: () => void;
  let blocked = false;
  const loop = new ControlLoop(
    async () => {
      passes++;
      if (blocked) await new Promise<void>((r) => (release = r));
    },
    { name: 'test', intervalMs: 1000, clock },
  );
  assert.equal(await loop.kick().then(() => passes), 0, 'nothing before start()');
  loop.start();
  await clock.advance(0);
  assert.equal(passes, 1);
  await clock.advance(1000);
  assert.equal(passes, 2);
  blocked = true;
  const first = loop.kick();
  void loop.kick();
  void loop.kick();
  await clock.advance(0);
  assert.equal(passes, 3, 'one pass under way');
  blocked = false;
  release();
  await first;
  assert.equal(passes, 4, 'the kicks made during it ran as one more pass');
  await loop.stop();
  await clock.advance(10_000);
  assert.equal(passes, 4, 'stopped: no more passes');
});

test('a failing pass is logged, counted and retried later and later; success says it works again', async () => {
  const clock = new FakeClock();
  const health = new LoopHealth();
  const lines: string[] = [];
  let failing = true;
  const times: number[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => void unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    const loop = new ControlLoop(
      async () => {
        times.push(clock.now());
        if (failing) throw new Error('the store cannot be reached');
      },
      { name: 'autoscaler', intervalMs: 1000, clock, health, log: (l) => lines.push(l), maxBackoffMs: 8000 },
    );
    const t0 = clock.now();
    loop.start();
    await clock.advance(30_000);
    assert.deepEqual(
      times.map((t) => t - t0),
      [0, 1000, 3000, 7000, 15_000, 23_000],
      'waits of 1, 2, 4, 8, then at most 8 s',
    );
    assert.equal(health.failures.get('autoscaler'), 6);
    assert.equal(health.failing.get('autoscaler'), 6);
    assert.equal(lines.length, 1, 'the first failure is told, not every one');
    assert.match(
      lines[0]!,
      /^autoscaler: a pass failed \(1 in a row\): the store cannot be reached; next try in 1 s$/,
    );
    failing = false;
    await clock.advance(1000); // the try due at 31 s
    assert.equal(health.failing.get('autoscaler'), 0);
    assert.match(lines.at(-1)!, /^autoscaler: works again after 6 failed pass\(es\)$/);
    await clock.advance(1000);
    assert.equal(times.length, 8, 'back on its interval');
    await loop.stop();
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});

test('each pass is timed under its loop name, a failed one too', async () => {
  const clock = new FakeClock();
  const health = new LoopHealth();
  const timed: [string, number][] = [];
  const unsubscribe = health.onPass((loop, seconds) => timed.push([loop, seconds]));
  let fail = false;
  const loop = new ControlLoop(
    async () => {
      if (fail) throw new Error('no store');
    },
    { name: 'reconciler', intervalMs: 1000, clock, health, log: () => {} },
  );
  loop.start();
  await clock.advance(0);
  fail = true;
  await clock.advance(1000);
  assert.deepEqual(
    timed.map(([name]) => name),
    ['reconciler', 'reconciler'],
  );
  assert.ok(timed.every(([, seconds]) => Number.isFinite(seconds) && seconds >= 0));
  assert.equal(health.failures.get('reconciler'), 1);
  unsubscribe();
  await clock.advance(2000);
  assert.equal(timed.length, 2, 'no more once unsubscribed');
  await loop.stop();
});

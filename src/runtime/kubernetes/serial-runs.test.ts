// SerialRuns: one run per key at a time, requests made meanwhile coalesced into one more run,
// keys forgotten when idle, a failed run failing only the requests it answered.
import { sleep } from '../../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SerialRuns } from './serial-runs.ts';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A job whose runs wait until let go, one by one, and say what they do. */
function jobs(): { log: string[]; job: (key: string) => Promise<void>; letGo: () => void } {
  const log: string[] = [];
  const waiting: (() => void)[] = [];
  return {
    log,
    job: async (key) => {
      log.push(`start ${key}`);
      await new Promise<void>((r) => waiting.push(r));
      log.push(`end ${key}`);
    },
    letGo: () => waiting.shift()?.(),
  };
}

test('runs of a key never overlap; requests made while one runs share the next run', async () => {
  const { log, job, letGo } = jobs();
  const idle: string[] = [];
  const runs = new SerialRuns<string>(job, (key) => idle.push(key));
  const first = runs.request('a');
  await tick();
  assert.deepEqual(log, ['start a']);
  const second = runs.request('a');
  const third = runs.request('a');
  assert.equal(second, third, 'requests made while a run waits share it');
  await tick();
  assert.deepEqual(log, ['start a'], 'the next run waits for the one under way');
  letGo();
  await first;
  await tick();
  assert.deepEqual(log, ['start a', 'end a', 'start a']);
  assert.equal(runs.busy('a'), true);
  letGo();
  await second;
  assert.deepEqual(log, ['start a', 'end a', 'start a', 'end a']);
  assert.deepEqual(idle, ['a']);
  assert.equal(runs.size, 0, 'idle keys are forgotten');
  assert.equal(runs.busy('a'), false);
});

test('keys run side by side', async () => {
  const { log, job, letGo } = jobs();
  const runs = new SerialRuns<string>(job);
  const a = runs.request('a');
  const b = runs.request('b');
  await tick();
  assert.deepEqual(log, ['start a', 'start b']);
  letGo();
  letGo();
  await Promise.all([a, b]);
  assert.equal(runs.size, 0);
});

test('a run that fails rejects its own requests only; the next run goes ahead', async () => {
  let calls = 0;
  const runs = new SerialRuns<string>(async () => {
    calls++;
    await tick();
    if (calls === 1) throw new Error('refused');
  });
  const failing = runs.request('a');
  const refused = assert.rejects(failing, /refused/);
  assert.equal(runs.request('a'), failing, 'a request before the run starts shares it');
  await sleep(0);
  const next = runs.request('a');
  await refused;
  await next;
  assert.equal(calls, 2);
  await runs.settled();
  assert.equal(runs.size, 0);
});

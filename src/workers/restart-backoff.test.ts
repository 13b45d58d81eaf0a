// The restart backoff of gateway workers: quick the first time, doubling while a worker keeps
// failing soon after its start, capped; a worker that served a while starts the count again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failuresInRow, HEALTHY_RUN_MS, restartDelayMs } from './restart-backoff.ts';

test('a worker failing soon after each start waits longer each time, up to 30 s', () => {
  let failures = 0;
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    failures = failuresInRow(failures, 1_000);
    delays.push(restartDelayMs(failures));
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
});

test('a worker that served a while before it exited is started again quickly', () => {
  const failures = failuresInRow(7, HEALTHY_RUN_MS);
  assert.equal(failures, 1);
  assert.equal(restartDelayMs(failures), 500);
  assert.equal(failuresInRow(7, HEALTHY_RUN_MS - 1), 8);
});

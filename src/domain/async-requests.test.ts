import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFinalAsync, retryDelayMs } from './async-requests.ts';

test('the retry delay doubles from initial_delay_ms per failed attempt, capped at max_delay_ms', () => {
  const retry = { max_attempts: 10, initial_delay_ms: 1000, max_delay_ms: 5000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 9].map((attempt) => retryDelayMs(attempt, retry)),
    [1000, 1000, 2000, 4000, 5000, 5000],
  );
  assert.equal(retryDelayMs(3, { ...retry, initial_delay_ms: 0 }), 0);
});

test('final statuses are the ones a request never leaves', () => {
  assert.deepEqual(
    (
      ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELED', 'WEBHOOK_FAILED'] as const
    ).filter(isFinalAsync),
    ['SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELED', 'WEBHOOK_FAILED'],
  );
});

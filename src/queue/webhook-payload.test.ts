import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AsyncRequest } from '../domain/async-requests.ts';
import { webhookPayload } from './webhook-payload.ts';

const NOW = '2026-03-01T12:00:05.000Z';

function request(over: Partial<AsyncRequest>): AsyncRequest {
  return {
    id: 'a7k2m9q4x',
    model_id: 'mabcdefg',
    deployment_id: 'dqwertyu',
    environment: 'production',
    priority: 1,
    status: 'SUCCEEDED',
    input_json: '{"x":1}',
    webhook_endpoint: 'https://hooks.example/in',
    max_time_in_queue_s: 600,
    retry: { max_attempts: 3, initial_delay_ms: 1000, max_delay_ms: 60_000 },
    attempts: 1,
    errors: [],
    created_at: '2026-03-01T12:00:00.000Z',
    started_at: '2026-03-01T12:00:01.000Z',
    finished_at: '2026-03-01T12:00:04.000Z',
    not_before_ms: 0,
    lease_owner: null,
    lease_until_ms: null,
    output_json: '{"label":"positive","score":0.98}',
    output_expires_ms: null,
    webhook_status: 'PENDING',
    webhook_attempts: 0,
    webhook_next_ms: null,
    ...over,
  };
}

test('a succeeded request: the output, parsed from output_json, under data, in the documented key order', () => {
  const body = webhookPayload(request({}), NOW);
  assert.equal(
    body,
    '{"request_id":"a7k2m9q4x","model_id":"mabcdefg","deployment_id":"dqwertyu",' +
      '"type":"async_request_completed","time":"2026-03-01T12:00:05.000Z",' +
      '"data":{"output":{"label":"positive","score":0.98}}}',
  );
  assert.deepEqual(JSON.parse(webhookPayload(request({ output_json: '[1,"two",null]' }), NOW)).data, {
    output: [1, 'two', null],
  });
});

test("a failed request: the model's errors", () => {
  const errors = [
    { code: 'MODEL_ERROR', message: 'attempt 1: ValueError: bad input' },
    { code: 'MODEL_ERROR', message: 'attempt 2: ValueError: bad input' },
  ];
  const parsed = JSON.parse(webhookPayload(request({ status: 'FAILED', errors, output_json: null }), NOW));
  assert.deepEqual(Object.keys(parsed), [
    'request_id',
    'model_id',
    'deployment_id',
    'type',
    'time',
    'errors',
  ]);
  assert.deepEqual(parsed.errors, errors);
  const bare = JSON.parse(webhookPayload(request({ status: 'FAILED', attempts: 3, output_json: null }), NOW));
  assert.deepEqual(bare.errors, [{ code: 'FAILED', message: 'the model call failed after 3 attempt(s)' }]);
});

test('an expired request: EXPIRED, naming max_time_in_queue_seconds', () => {
  const parsed = JSON.parse(
    webhookPayload(
      request({ status: 'EXPIRED', max_time_in_queue_s: 30, output_json: null, attempts: 0 }),
      NOW,
    ),
  );
  assert.equal(parsed.errors.length, 1);
  assert.equal(parsed.errors[0].code, 'EXPIRED');
  assert.match(parsed.errors[0].message, /max_time_in_queue_seconds \(30 s\)/);
  assert.equal(parsed.data, undefined);
});

test('a canceled request: CANCELED', () => {
  const parsed = JSON.parse(
    webhookPayload(request({ status: 'CANCELED', output_json: null, attempts: 0 }), NOW),
  );
  assert.deepEqual(parsed.errors, [{ code: 'CANCELED', message: 'the request was canceled before it ran' }]);
  assert.equal(parsed.type, 'async_request_completed');
});

test('a request still queued or running has nothing to report: a fault', () => {
  assert.throws(() => webhookPayload(request({ status: 'QUEUED' }), NOW), /is QUEUED, not a final state/);
  assert.throws(() => webhookPayload(request({ status: 'IN_PROGRESS' }), NOW), /IN_PROGRESS/);
});

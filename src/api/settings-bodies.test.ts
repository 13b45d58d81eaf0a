// The autoscaling body's max_scale_down_rate: a whole percent from 1 to 50, null for no limit,
// and anything else refused in one line that names the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import { PlinthError } from '../domain/errors.ts';
import { mergeAutoscaling } from './settings-bodies.ts';

test('max_scale_down_rate defaults to null, takes 1–50, and null clears it', () => {
  assert.equal(DEFAULT_AUTOSCALING.max_scale_down_rate, null);
  const set = mergeAutoscaling({ ...DEFAULT_AUTOSCALING }, { max_scale_down_rate: 25 });
  assert.equal(set.max_scale_down_rate, 25);
  assert.equal(mergeAutoscaling(set, { max_replica: 4 }).max_scale_down_rate, 25, 'kept by other patches');
  assert.equal(mergeAutoscaling(set, { max_scale_down_rate: null }).max_scale_down_rate, null);
  for (const edge of [1, 50]) {
    assert.equal(mergeAutoscaling(set, { max_scale_down_rate: edge }).max_scale_down_rate, edge);
  }
});

test('a max_scale_down_rate outside 1–50, or not a whole number, names the field', () => {
  for (const bad of [0, 51, 12.5, '25', true, -1]) {
    assert.throws(
      () => mergeAutoscaling({ ...DEFAULT_AUTOSCALING }, { max_scale_down_rate: bad }),
      (err: unknown) =>
        err instanceof PlinthError &&
        err.code === 'VALIDATION_ERROR' &&
        err.message ===
          'autoscaling_settings field "max_scale_down_rate": expected a whole percent from 1 to 50, or null for no limit',
      `refuses ${JSON.stringify(bad)}`,
    );
  }
});

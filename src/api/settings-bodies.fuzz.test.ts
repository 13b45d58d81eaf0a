// Property test: any autoscaling or promotion settings body gives settings within the ranges of
// DESIGN.md §5 or a VALIDATION_ERROR naming the field — never anything else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_AUTOSCALING, DEFAULT_PROMOTION_SETTINGS } from '../domain/autoscaling.ts';
import { PlinthError } from '../domain/errors.ts';
import { random } from '../../test/support/fuzz.ts';
import { mergeAutoscaling, mergePromotionSettings } from './settings-bodies.ts';

const FIELDS = [
  'min_replica',
  'max_replica',
  'concurrency_target',
  'target_utilization_percentage',
  'autoscaling_window',
  'scale_down_delay',
  'max_scale_down_rate',
  'max_replicas',
];

test('autoscaling and promotion bodies: settings within range, or an error naming the field', () => {
  for (let seed = 1; seed <= 1000; seed++) {
    const r = random(seed);
    const body =
      seed % 5 === 0
        ? r.value()
        : Object.fromEntries(
            Array.from({ length: r.int(4) }, () => [
              r.pick(FIELDS),
              r.next() < 0.7 ? r.int(5000) - 10 : r.value(1),
            ]),
          );
    try {
      const s = mergeAutoscaling({ ...DEFAULT_AUTOSCALING }, body, { development: seed % 2 === 0 });
      assert.ok(s.min_replica >= 0 && s.max_replica >= Math.max(1, s.min_replica), `seed ${seed}`);
      assert.ok(s.concurrency_target >= 1, `seed ${seed}`);
      assert.ok(
        s.target_utilization_percentage >= 1 && s.target_utilization_percentage <= 100,
        `seed ${seed}`,
      );
      assert.ok(s.autoscaling_window >= 1 && s.autoscaling_window <= 3600, `seed ${seed}`);
      assert.ok(s.scale_down_delay >= 0 && s.scale_down_delay <= 3600, `seed ${seed}`);
      const rate = s.max_scale_down_rate;
      assert.ok(rate === null || (Number.isInteger(rate) && rate >= 1 && rate <= 50), `seed ${seed}`);
      if (seed % 2 === 0) assert.ok(s.max_replica <= 1, `seed ${seed}: development`);
    } catch (err) {
      assert.ok(
        err instanceof PlinthError && err.code === 'VALIDATION_ERROR',
        `seed ${seed}: ${String(err)}`,
      );
      assert.match(err.message, /autoscaling_settings/, `seed ${seed}: ${err.message}`);
    }
    try {
      mergePromotionSettings(
        { ...DEFAULT_PROMOTION_SETTINGS },
        r.next() < 0.5 ? r.value() : { ramp_up_duration_seconds: r.value(0) },
      );
    } catch (err) {
      assert.ok(
        err instanceof PlinthError && err.code === 'VALIDATION_ERROR',
        `seed ${seed}: ${String(err)}`,
      );
    }
  }
});

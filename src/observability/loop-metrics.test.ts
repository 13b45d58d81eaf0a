// The control loops' metrics: failures counted, and each pass's duration in a histogram per loop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { LoopHealth } from '../domain/control-loop.ts';
import { registerLoopMetrics } from './loop-metrics.ts';

test('pass durations go to plinth_control_loop_seconds by loop; failures to their counter', async () => {
  const registry = new Registry();
  const health = new LoopHealth();
  registerLoopMetrics(registry, health);
  health.timed('reconciler', 0.02);
  health.timed('reconciler', 0.3);
  health.timed('autoscaler', 0.004);
  health.failed('autoscaler');
  const text = await registry.metrics();
  assert.match(text, /^plinth_control_loop_seconds_count\{loop="reconciler"\} 2$/m);
  assert.match(text, /^plinth_control_loop_seconds_bucket\{le="0.025",loop="reconciler"\} 1$/m);
  assert.match(text, /^plinth_control_loop_seconds_bucket\{le="0.5",loop="reconciler"\} 2$/m);
  assert.match(text, /^plinth_control_loop_seconds_sum\{loop="reconciler"\} 0\.32/m);
  assert.match(text, /^plinth_control_loop_seconds_count\{loop="autoscaler"\} 1$/m);
  assert.match(text, /^plinth_control_loop_failures_total\{loop="autoscaler"\} 1$/m);
});

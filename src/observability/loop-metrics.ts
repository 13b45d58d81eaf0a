// The control loops' health as Prometheus metrics: failed passes per loop, and how many in a row
// it has now (non-zero while a loop cannot do its work — a store that cannot be reached, a full disk),
// and how long passes take (how a reconcile pass or an autoscaler tick grows with the deployments).
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { LoopHealth } from '../domain/control-loop.ts';

export function registerLoopMetrics(registry: Registry, health: LoopHealth): void {
  const seconds = new Histogram({
    name: 'plinth_control_loop_seconds',
    help: 'How long a pass of a control loop took (reconciler, autoscaler, promotions, builder, …), failed ones too.',
    labelNames: ['loop'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  health.onPass((loop, s) => seconds.observe({ loop }, s));
  new Counter({
    name: 'plinth_control_loop_failures_total',
    help: 'Passes of a control loop (reconciler, autoscaler, promotions, builder, …) that failed.',
    labelNames: ['loop'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [loop, n] of health.failures) this.inc({ loop }, n);
    },
  });
  new Gauge({
    name: 'plinth_control_loop_failing',
    help: 'Failed passes in a row per control loop now (0: working).',
    labelNames: ['loop'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [loop, n] of health.failing) this.set({ loop }, n);
    },
  });
}

// The control loops' health as Prometheus metrics: failed passes per loop, and how many in a row
// it has now (non-zero while a loop cannot do its work — a store that cannot be reached, a full disk).
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { LoopHealth } from '../domain/control-loop.ts';

export function registerLoopMetrics(registry: Registry, health: LoopHealth): void {
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

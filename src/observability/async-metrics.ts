// Async requests as Prometheus metrics: the queue's size per deployment, the time requests waited
// in it before a model call began, and webhook deliveries by outcome.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

const QUEUE_TIME_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400];

export class AsyncMetrics {
  private readonly size: Gauge;
  private readonly queueTime: Histogram;
  private readonly deliveries: Counter;
  private known = new Set<string>();

  constructor(registry: Registry) {
    this.size = new Gauge({
      name: 'plinth_async_queue_size',
      help: 'Async requests waiting in a deployment’s queue (QUEUED).',
      labelNames: ['deployment_id'],
      registers: [registry],
    });
    this.queueTime = new Histogram({
      name: 'plinth_async_queue_time_seconds',
      help: 'Seconds an async request waited in the queue before its model call began.',
      buckets: QUEUE_TIME_BUCKETS,
      registers: [registry],
    });
    this.deliveries = new Counter({
      name: 'plinth_async_webhook_deliveries_total',
      help: 'Webhook delivery tries of async requests, by outcome (delivered, retry, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    });
  }

  /** The queue sizes a worker pass saw; deployments no longer listed go back to 0. */
  queueSizes(queued: ReadonlyMap<string, number>): void {
    for (const id of this.known) if (!queued.has(id)) this.size.set({ deployment_id: id }, 0);
    for (const [id, n] of queued) this.size.set({ deployment_id: id }, n);
    this.known = new Set(
      [...this.known, ...queued.keys()].filter((id) => queued.has(id) || this.known.has(id)),
    );
  }

  started(waitedS: number): void {
    this.queueTime.observe(Math.max(0, waitedS));
  }

  webhook(outcome: 'delivered' | 'retry' | 'failed'): void {
    this.deliveries.inc({ outcome });
  }
}

// What a primary process and its gateway workers say to each other over the IPC channel of
// `--gateway-workers`. The primary forks a worker and sends `serve`; the worker starts a gateway
// (its own store connection, route feed and concurrency reports) and answers `ready`; the primary
// then hands it the listening socket (`socket`, with the server handle). Metrics are asked for by
// id; `stop` asks for a graceful exit.
import type { GatewayConfig } from '../config/server-config.ts';
import type { MetricsJson, ProcessMetrics } from '../observability/merged-metrics.ts';

/** Where a `plinth up` worker passes what is not inference: the primary's loopback door. */
export interface PrimaryDoorAddress {
  port: number;
  /** Sent with every passed request: the door answers only its workers. */
  token: string;
}

export interface ServeMessage {
  type: 'serve';
  /** 1 … N−1: the worker's place, kept across restarts (its metrics are `worker-<slot>`). */
  slot: number;
  /** Whose worker it is: names its gateway id, and says what it does with other requests. */
  role: 'up' | 'gateway';
  config: GatewayConfig;
  /** `plinth up` only: the async queue's token, and where API, dashboard and /metrics requests go. */
  internalToken?: string;
  authFailuresPerMinute?: number;
  door?: PrimaryDoorAddress;
  /** How long it lets its requests finish when it stops (`plinth up`'s --drain-timeout). */
  drainMs?: number;
}

export type PrimaryMessage =
  | ServeMessage
  /** Comes with the listening server's handle. */
  | { type: 'socket' }
  | { type: 'stop' }
  /** The worker's own registry, please. */
  | { type: 'metrics-ask'; id: number }
  /** The answer to a worker's `metrics-gather`: every other process's registry. */
  | { type: 'metrics-gathered'; id: number; processes: ProcessMetrics[] };

export type WorkerMessage =
  | { type: 'ready'; gatewayId: string }
  | { type: 'failed'; message: string }
  | { type: 'metrics'; id: number; metrics: MetricsJson }
  /** Every other process's registry, please (a scrape landed on this worker, whose own is `own`). */
  | { type: 'metrics-gather'; id: number; own: MetricsJson };

function isMessage(value: unknown): value is { type: string } {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return isMessage(value);
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return isMessage(value);
}

// `plinth up --gateway-workers N`: the primary keeps the API, the dashboard and the control loops,
// opens a loopback door for what its workers pass it, and forks N−1 gateway workers on the shared
// PostgreSQL store, each told the server's limits, the host names it serves and the async queue's
// token (the queue's workers call the shared port, and may land on any process).
import type { Server } from 'node:http';
import { workerGatewayConfig } from '../config/server-config.ts';
import type { ServerConfig } from '../config/server-config.ts';
import type { MetricsJson } from '../observability/merged-metrics.ts';
import { openPrimaryDoor } from './primary-door.ts';
import { WorkerPool } from './worker-pool.ts';

export interface UpWorkers {
  pool: WorkerPool;
  /** Stops the workers (their requests finish), then closes the door they passed requests through. */
  close(): Promise<void>;
}

export async function startUpWorkers(options: {
  /** The API's and gateway's server, listening. */
  server: Server;
  config: ServerConfig;
  port: number;
  hostSuffixes: readonly string[];
  internalToken: string;
  ownMetrics: () => Promise<MetricsJson>;
}): Promise<UpWorkers> {
  const { config } = options;
  const door = await openPrimaryDoor(options.server, config, config.gatewayWorkers - 1);
  const pool = new WorkerPool({
    server: options.server,
    processes: config.gatewayWorkers,
    serve: {
      role: 'up',
      config: workerGatewayConfig(config, options.port, options.hostSuffixes),
      internalToken: options.internalToken,
      authFailuresPerMinute: config.authFailuresPerMinute,
      door: door.address,
      drainMs: config.drainS * 1000,
    },
    ownMetrics: options.ownMetrics,
    stopGraceMs: config.drainS * 1000,
  });
  try {
    await pool.start();
  } catch (err) {
    await door.close();
    throw err;
  }
  return {
    pool,
    async close() {
      await pool.stop();
      await door.close();
    },
  };
}

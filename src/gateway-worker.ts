// Composition root of a gateway worker process (`--gateway-workers N`; the primary starts it as the
// hidden `plinth gateway-worker`). Told over its IPC channel what to serve, it starts a gateway
// (src/gateway-server.ts) with its own store connection, route feed and concurrency reports, says
// it is ready, and then serves the connections of the primary's listening socket, handed to it. A
// worker of `plinth up` passes what is not inference to the primary's door. It answers the
// primary's asks for its metrics, stops gracefully when asked, and goes when its primary does.
import type { Server as NetServer } from 'node:net';
import { Counter } from 'prom-client';
import { PlinthError } from './domain/errors.ts';
import { startGatewayServer } from './gateway-server.ts';
import type { RunningGateway } from './gateway-server.ts';
import type { MetricsJson, ProcessMetrics } from './observability/merged-metrics.ts';
import { forwardToPrimary } from './workers/forward-to-primary.ts';
import type { PrimaryForwarder } from './workers/forward-to-primary.ts';
import { isPrimaryMessage } from './workers/messages.ts';
import type { ServeMessage, WorkerMessage } from './workers/messages.ts';

import { WORKER_DRAIN_MS } from './workers/worker-pool.ts';

export { WORKER_COMMAND } from './workers/worker-pool.ts';

/** How long a scrape on this worker waits for the primary to gather the others' metrics. */
const GATHER_MS = 5000;

function send(message: WorkerMessage, then?: () => void): void {
  if (!process.connected) return void then?.();
  process.send!(message, undefined, undefined, () => then?.());
}

/** Runs this process as a gateway worker; it needs the IPC channel of a primary that forked it. */
export async function runGatewayWorker(): Promise<void> {
  let running: RunningGateway | null = null;
  let forwarder: PrimaryForwarder | null = null;
  let socket: NetServer | null = null;
  let handOver: (server: NetServer) => void = () => {};
  const handed = new Promise<NetServer>((resolve) => (handOver = resolve));
  const gathering = new Map<number, (processes: ProcessMetrics[]) => void>();
  let nextId = 0;
  let stopping: Promise<void> | null = null;
  const stop = (): void => {
    stopping ??= (async () => {
      // No new connections from here on (its primary may be gone: the port must not stay held),
      // and whatever happens, out after the drain.
      socket?.close();
      setTimeout(() => process.exit(0), (serveMessage?.drainMs ?? WORKER_DRAIN_MS) + 5000).unref();
      await running?.close().catch((err: Error) => console.error(`gateway worker: ${err.message}`));
      forwarder?.close();
      process.exit(0);
    })();
  };

  let serveMessage: ServeMessage | undefined;
  const serve = await new Promise<ServeMessage>((resolve) => {
    process.on('message', (message: unknown, handle: unknown) => {
      if (!isPrimaryMessage(message)) return;
      if (message.type === 'serve') resolve((serveMessage = message));
      else if (message.type === 'socket') {
        // Sent while the primary's server was closing: no handle came, nothing to serve.
        if (!handle) return stop();
        handOver((socket = handle as NetServer));
      } else if (message.type === 'stop') stop();
      else if (message.type === 'metrics-ask') {
        const asked = running ? running.registry.getMetricsAsJSON() : Promise.resolve([]);
        void asked.then((metrics) => send({ type: 'metrics', id: message.id, metrics }));
      } else if (message.type === 'metrics-gathered') gathering.get(message.id)?.(message.processes);
    });
    // Its primary is gone (stopped or killed): it stops taking connections and goes.
    process.on('disconnect', stop);
  });
  // A terminal's Ctrl-C reaches the whole process group: the primary stops its workers itself.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', stop);

  // A scrape that lands here shows every process: the primary gathers the others' registries, and
  // keeps this one's (what a scrape showed, a later one on the primary must not show less of). With
  // no answer in time the scrape fails rather than show a part of the counts (a counter going back).
  const peerMetrics = (own: MetricsJson): Promise<ProcessMetrics[]> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const done = (processes: ProcessMetrics[] | null): void => {
        clearTimeout(timer);
        gathering.delete(id);
        if (processes) resolve(processes);
        else
          reject(
            new PlinthError(
              'PRIMARY_UNAVAILABLE',
              "the other gateway processes' metrics did not come in time",
            ),
          );
      };
      const timer = setTimeout(() => done(null), GATHER_MS);
      gathering.set(id, done);
      send({ type: 'metrics-gather', id, own });
    });
  forwarder = serve.role === 'up' && serve.door ? forwardToPrimary(serve.door) : null;
  try {
    running = await startGatewayServer(serve.config, {
      name: `${serve.role === 'up' ? 'plinth-up' : 'gateway'}-w${serve.slot}`,
      processName: `worker-${serve.slot}`,
      peerMetrics,
      otherRequests: forwarder?.forward,
      internalToken: serve.internalToken,
      authFailuresPerMinute: serve.authFailuresPerMinute,
      drainMs: serve.drainMs,
      takeOver: (gatewayId) => {
        send({ type: 'ready', gatewayId });
        return handed;
      },
    });
  } catch (err) {
    send({ type: 'failed', message: (err as Error).message }, () => process.exit(1));
    return;
  }
  if (forwarder) {
    const passed = forwarder;
    new Counter({
      name: 'plinth_gateway_forwarded_requests_total',
      help: 'Requests a gateway worker of `plinth up` passed to its primary process (API, dashboard, /healthz, /metrics).',
      registers: [running.registry],
      collect() {
        this.reset();
        this.inc(passed.forwarded);
      },
    });
  }
}

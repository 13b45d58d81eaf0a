// Composition root of `plinth gateway`: a process that only serves inference. It runs no replicas
// and no control loops; it reads routes from the shared PostgreSQL store (changes arrive by
// LISTEN/NOTIFY), checks keys against it, wakes deployments at zero through it, and reports what it
// counts so that the leading control plane scales on the sum of every gateway. It measures the
// requests it serves: Prometheus at its own /metrics, and series in the store (written as its own,
// merged with the others' when read) for the API's …/metrics and the dashboard. With
// `--gateway-workers N` it forks N−1 workers that serve the same port; each worker is this same
// gateway, started with `takeOver` (src/gateway-worker.ts), and /metrics merges them all.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { Registry } from 'prom-client';
import { Authenticator, inferenceAuthorizer } from './api/auth.ts';
import type { GatewayConfig } from './config/server-config.ts';
import { errorBody, isPlinthError, PlinthError } from './domain/errors.ts';
import { ConcurrencyReports } from './gateway/concurrency-reports.ts';
import { Gateway } from './gateway/gateway.ts';
import { RouteFeed } from './gateway/route-feed.ts';
import { TrafficTimes } from './gateway/traffic-times.ts';
import { listenForUpgrades } from './gateway/upgrade-listener.ts';
import { drainConnections, listen, listeningUrl, serveHanded, trackConnections } from './http-listen.ts';
import { ControlLoop, LoopHealth } from './domain/control-loop.ts';
import { registerLoopMetrics } from './observability/loop-metrics.ts';
import { mergeProcessMetrics } from './observability/merged-metrics.ts';
import type { MetricsJson, ProcessMetrics } from './observability/merged-metrics.ts';
import { Metrics } from './observability/metrics.ts';
import { SeriesStore } from './observability/series-store.ts';
import { wakeFromZero } from './reconciler/lifecycle.ts';
import { ChangeFeed } from './store/postgres/change-feed.ts';
import { AsyncFront } from './queue/async-front.ts';
import { openPostgresStore } from './store/postgres/open.ts';
import { StatusRecorder } from './store/status-recorder.ts';
import { WORKER_DRAIN_MS, WorkerPool } from './workers/worker-pool.ts';

/** How a gateway worker (`--gateway-workers`) differs from a gateway that listens itself. */
export interface GatewayWorkerOptions {
  /**
   * Called once the gateway can serve (store connected, routes and keys read), with its id;
   * resolves with the primary's listening server, whose connections it then serves too.
   */
  takeOver: (gatewayId: string) => Promise<NetServer>;
  /** Its gateway id's prefix: `gateway-w1`, `plinth-up-w1`. */
  name: string;
  /** Its name among the processes in /metrics: `worker-1`. */
  processName: string;
  /** The other processes' registries, merged into its /metrics. */
  peerMetrics: (own: MetricsJson) => Promise<ProcessMetrics[]>;
  /** A worker of `plinth up`: answers what is not inference (passes it to the primary's API). */
  otherRequests?: (req: IncomingMessage, res: ServerResponse) => void;
  /** A worker of `plinth up`: the token of the primary's async queue workers. */
  internalToken?: string;
  authFailuresPerMinute?: number;
  /** How long a stopping process lets its requests finish (`plinth up`'s --drain-timeout). */
  drainMs?: number;
}

export interface RunningGateway {
  url: string;
  gatewayId: string;
  /** Processes serving the port: this one and its workers (`--gateway-workers`). */
  processes: number;
  /** This process's Prometheus registry (its primary asks a worker for it). */
  registry: Registry;
  close(): Promise<void>;
}

export async function startGatewayServer(
  config: GatewayConfig,
  worker?: GatewayWorkerOptions,
): Promise<RunningGateway> {
  const store = await openPostgresStore(config.store);
  const auth = new Authenticator(store, worker?.authFailuresPerMinute);
  const status = new StatusRecorder(store);
  // Async requests it accepts go to the shared store; the leading control plane's workers run them.
  const asyncRoutes = new AsyncFront({
    store,
    maxInputBytes: config.asyncMaxInputBytes,
    allowPrivateWebhooks: config.allowPrivateWebhooks,
    onQueued: () => {},
    hasSigningSecret: async () => (await store.signingWebhookSecrets(new Date().toISOString())).length > 0,
  });
  const gateway = new Gateway(store, {
    asyncRoutes,
    parkTimeoutMs: config.parkTimeoutS * 1000,
    maxQueue: config.maxQueue,
    maxBodyBytes: config.maxInferenceBodyBytes,
    stallTimeoutMs: config.stallTimeoutS * 1000,
    hostSuffixes: config.hostSuffixes,
    authorize: inferenceAuthorizer(auth),
    internalToken: worker?.internalToken,
  });
  gateway.wakes.add(
    (id) =>
      void store
        .getDeployment(id)
        .then((d) => d && wakeFromZero(status, d))
        .catch((err: Error) => console.error(`wake ${id}: ${err.message}`)),
  );
  const changes = new ChangeFeed(config.store);
  await changes.start();
  const routes = new RouteFeed(store, gateway, {
    replicas: true,
    onDeployment: (d) => gateway.deploymentChanged(d),
    onKeys: (revoked) => (revoked ? auth.forgetCached() : auth.expireCached()),
  });
  await routes.start((listener) => changes.on(listener));
  const health = new LoopHealth();
  const reports = new ConcurrencyReports(
    store,
    () => gateway.concurrencies(),
    worker?.name ?? 'gateway',
    health,
  );
  reports.start();
  const series = new SeriesStore(store, Date.now, reports.gatewayId);
  const metrics = new Metrics(series, async () => []);
  registerLoopMetrics(metrics.registry, health);
  gateway.requests.add((m) => metrics.request(m));
  gateway.coldStarts.add((c) => metrics.coldStart(c.model, c.deployment, c.environment));
  const flushes = new ControlLoop(() => series.flush(), {
    name: 'metric-series',
    intervalMs: 10_000,
    health,
  });
  flushes.start();
  // When each deployment last answered a request, for the leading control plane's inactivity check.
  const traffic = new TrafficTimes(store, Date.now, health);
  gateway.requests.add((m) => traffic.note(m.deployment.id));
  traffic.start();

  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const route = gateway.match(req);
    if (route) return void gateway.handle(req, res, route);
    if (worker?.otherRequests) return worker.otherRequests(req, res);
    if (req.method === 'GET' && req.url === '/metrics') return void serveMetrics(req, res);
    const healthy = req.url === '/healthz';
    res.writeHead(healthy ? 200 : 404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        healthy
          ? { status: 'ok', role: 'gateway', gateway_id: reports.gatewayId }
          : errorBody(
              'NOT_FOUND',
              'this is a Plinth gateway: it serves inference only; the API is on a control plane',
            ),
      ),
    );
  });
  // WebSockets to models (…/websocket); other upgrades are answered as plain requests.
  listenForUpgrades(server, gateway);
  let pool: WorkerPool | null = null;
  // With workers, a scrape shows every process's requests, whichever process it lands on.
  const exposition = async (): Promise<string> => {
    if (!pool && !worker) return metrics.exposition();
    const own = {
      process: worker?.processName ?? 'primary',
      metrics: await metrics.registry.getMetricsAsJSON(),
    };
    const peers = pool ? await pool.workerMetrics() : await worker!.peerMetrics(own.metrics);
    return mergeProcessMetrics([own, ...peers]).metrics();
  };
  const serveMetrics = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      if (config.metricsAuth)
        await auth.authenticate(req.headers.authorization, req.socket.remoteAddress ?? '');
      const text = await exposition();
      res.writeHead(200, { 'content-type': metrics.contentType });
      res.end(text);
    } catch (err) {
      const e = isPlinthError(err) ? err : new PlinthError('INTERNAL', 'metrics failed');
      res.writeHead(e.httpStatus, { 'content-type': 'application/json' });
      res.end(JSON.stringify(errorBody(e.code, e.message)));
    }
  };
  const drainMs = worker?.drainMs ?? WORKER_DRAIN_MS;
  const several = worker !== undefined || config.gatewayWorkers > 1;
  const open = several ? trackConnections(server) : new Set<never>();
  let handed: NetServer | null = null;
  let url: string;
  if (worker) {
    handed = await worker.takeOver(reports.gatewayId);
    serveHanded(server, handed, config);
    url = listeningUrl(handed, config.host);
  } else {
    url = await listen(server, config);
    if (config.gatewayWorkers > 1) {
      pool = new WorkerPool({
        server,
        processes: config.gatewayWorkers,
        serve: { role: 'gateway', config },
        ownMetrics: () => metrics.registry.getMetricsAsJSON(),
        stopGraceMs: drainMs,
      });
      await pool.start();
    }
  }
  // Alone, it closes its connections when it stops (as it always has); one of several processes
  // lets their requests finish, as its workers do.
  const stopServing = async (): Promise<void> => {
    if (handed) handed.close();
    else if (pool) server.close();
    else {
      const closed = new Promise((r) => server.close(r));
      server.closeAllConnections();
      await closed;
      return;
    }
    await drainConnections(server, open, drainMs);
  };
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    // Its workers are told first (one that exits now is not started again); routes and reports
    // go on while requests drain: a parked one still learns its replica is ready, and the
    // control plane still counts what is in flight here.
    await Promise.all([pool?.stop(), stopServing()]);
    routes.stop();
    await reports.stop();
    await changes.close();
    await gateway.close();
    await flushes.stop();
    await traffic.stop();
    await series
      .flush()
      .catch((err: Error) => console.error(`metrics: could not store series: ${err.message}`));
    await store.close();
  };
  return {
    url,
    gatewayId: reports.gatewayId,
    processes: config.gatewayWorkers,
    registry: metrics.registry,
    close: () => (closing ??= close()),
  };
}

// Composition root of `plinth gateway`: a process that only serves inference. It runs no replicas
// and no control loops; it reads routes from the shared PostgreSQL store (changes arrive by
// LISTEN/NOTIFY), checks keys against it, wakes deployments at zero through it, and reports what it
// counts so that the leading control plane scales on the sum of every gateway. It measures the
// requests it serves: Prometheus at its own /metrics, and series in the store (written as its own,
// merged with the others' when read) for the API's …/metrics and the dashboard.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Authenticator, inferenceAuthorizer } from './api/auth.ts';
import type { GatewayConfig } from './config/server-config.ts';
import { errorBody, isPlinthError, PlinthError } from './domain/errors.ts';
import { ConcurrencyReports } from './gateway/concurrency-reports.ts';
import { Gateway } from './gateway/gateway.ts';
import { RouteFeed } from './gateway/route-feed.ts';
import { TrafficTimes } from './gateway/traffic-times.ts';
import { listenForUpgrades } from './gateway/upgrade-listener.ts';
import { listen } from './http-listen.ts';
import { ControlLoop, LoopHealth } from './domain/control-loop.ts';
import { registerLoopMetrics } from './observability/loop-metrics.ts';
import { Metrics } from './observability/metrics.ts';
import { SeriesStore } from './observability/series-store.ts';
import { wakeFromZero } from './reconciler/lifecycle.ts';
import { ChangeFeed } from './store/postgres/change-feed.ts';
import { AsyncFront } from './queue/async-front.ts';
import { openPostgresStore } from './store/postgres/open.ts';
import { StatusRecorder } from './store/status-recorder.ts';

export interface RunningGateway {
  url: string;
  gatewayId: string;
  close(): Promise<void>;
}

export async function startGatewayServer(config: GatewayConfig): Promise<RunningGateway> {
  const store = await openPostgresStore(config.store);
  const auth = new Authenticator(store);
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
  const reports = new ConcurrencyReports(store, () => gateway.concurrencies(), 'gateway', health);
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
  const serveMetrics = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      if (config.metricsAuth)
        await auth.authenticate(req.headers.authorization, req.socket.remoteAddress ?? '');
      const text = await metrics.exposition();
      res.writeHead(200, { 'content-type': metrics.contentType });
      res.end(text);
    } catch (err) {
      const e = isPlinthError(err) ? err : new PlinthError('INTERNAL', 'metrics failed');
      res.writeHead(e.httpStatus, { 'content-type': 'application/json' });
      res.end(JSON.stringify(errorBody(e.code, e.message)));
    }
  };
  const url = await listen(server, config);
  return {
    url,
    gatewayId: reports.gatewayId,
    async close() {
      routes.stop();
      await reports.stop();
      const closed = new Promise((r) => server.close(r));
      server.closeAllConnections();
      await closed;
      await changes.close();
      await gateway.close();
      await flushes.stop();
      await traffic.stop();
      await series
        .flush()
        .catch((err: Error) => console.error(`metrics: could not store series: ${err.message}`));
      await store.close();
    },
  };
}

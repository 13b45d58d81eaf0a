// Composition root of `plinth gateway`: a process that only serves inference. It runs no replicas
// and no control loops; it reads routes from the shared PostgreSQL store (changes arrive by
// LISTEN/NOTIFY), checks keys against it, wakes deployments at zero through it, and reports what it
// counts so that the leading control plane scales on the sum of every gateway.
import { createServer } from 'node:http';
import { Authenticator, inferenceAuthorizer } from './api/auth.ts';
import type { GatewayConfig } from './config/server-config.ts';
import { errorBody } from './domain/errors.ts';
import { ConcurrencyReports } from './gateway/concurrency-reports.ts';
import { Gateway } from './gateway/gateway.ts';
import { RouteFeed } from './gateway/route-feed.ts';
import { listen } from './http-listen.ts';
import { wakeFromZero } from './reconciler/lifecycle.ts';
import { ChangeFeed } from './store/postgres/change-feed.ts';
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
  const gateway = new Gateway(store, {
    parkTimeoutMs: config.parkTimeoutS * 1000,
    maxQueue: config.maxQueue,
    maxBodyBytes: config.maxInferenceBodyBytes,
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
  const reports = new ConcurrencyReports(store, () => gateway.concurrencies(), 'gateway');
  reports.start();

  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const route = gateway.match(req);
    if (route) return void gateway.handle(req, res, route);
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
      await store.close();
    },
  };
}

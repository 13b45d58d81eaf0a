// The management API (fastify) on the same node:http server as the gateway: inference requests
// are taken off the server before fastify sees them. Every /v1 route needs an API key except the
// OpenAPI document; errors answer {"error": {"code", "message"}} with the catalogue's status.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance } from 'fastify';
import { clientAddress } from '../domain/client-address.ts';
import { errorBody, isPlinthError, PlinthError } from '../domain/errors.ts';
import { listenForUpgrades } from '../gateway/upgrade-listener.ts';
import { mayManage, routeAccess } from './access.ts';
import { PLINTH_VERSION } from '../domain/version.ts';
import type { ApiContext } from './context.ts';
import { collectOperations, openApiDocument } from './openapi.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { artifactRoutes } from './routes/artifacts.ts';
import { weightsRoutes } from './routes/weights.ts';
import { bundleRoutes } from './routes/bundles.ts';
import { deploymentRoutes } from './routes/deployments.ts';
import { replicaRoutes } from './routes/replicas.ts';
import { developmentRoutes } from './routes/development.ts';
import { instanceTypeRoutes } from './routes/instance-types.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { logRoutes } from './routes/logs.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { environmentRoutes } from './routes/environments.ts';
import { modelRoutes } from './routes/models.ts';
import { secretRoutes } from './routes/secrets.ts';
import { webhookSecretRoutes } from './routes/webhook-secrets.ts';
import { deploymentBundleRoutes } from './routes/deployment-bundle.ts';

/** An error from a write that found no room (the message of tools that do not set the code too). */
function isDiskFull(err: Error & { code?: string }): boolean {
  return (
    err.code === 'ENOSPC' ||
    err.code === 'SQLITE_FULL' ||
    /ENOSPC|no space left on device|SQLITE_FULL|database or disk is full/i.test(err.message)
  );
}

export function buildApi(ctx: ApiContext): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 10 * 1024 * 1024,
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
      // Checked each second, so that a client too slow to send its headers is cut off on time.
      const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
        const route = ctx.gateway.match(req);
        if (route) void ctx.gateway.handle(req, res, route);
        else handler(req, res);
      });
      // WebSockets to models (…/websocket); other upgrades are answered as plain requests.
      listenForUpgrades(server, ctx.gateway);
      return server;
    },
  });
  const ops = collectOperations(app);

  app.decorateRequest('apiKeyName', '');
  app.addHook('onRequest', async (req) => {
    const path = req.routeOptions.url ?? req.url.split('?')[0]!;
    const access = path === '/metrics' && ctx.metricsAuth ? 'key' : routeAccess(path);
    if (access === 'open') return;
    const key = await ctx.auth.authenticate(req.headers.authorization, clientAddress(req.raw));
    if (!mayManage(key, access)) {
      throw new PlinthError(
        'FORBIDDEN',
        `API key "${key.name}" has the ${key.scope} scope; this needs ${access === 'admin' ? 'an admin key' : 'a deploy or admin key'}`,
      );
    }
    (req as typeof req & { apiKeyName: string }).apiKeyName = key.name;
  });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (isPlinthError(err)) return reply.code(err.httpStatus).send(errorBody(err.code, err.message));
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .code(413)
        .send(errorBody('PAYLOAD_TOO_LARGE', `request body is larger than the limit (${err.message})`));
    }
    if (err.statusCode && err.statusCode < 500) {
      return reply.code(err.statusCode).send(errorBody('BAD_REQUEST', err.message));
    }
    if (isDiskFull(err)) {
      console.error(`api: the disk is full: ${err.message}`);
      return reply
        .code(507)
        .send(
          errorBody(
            'INSUFFICIENT_STORAGE',
            "the Plinth server's disk is full: nothing was stored; try again once there is room",
          ),
        );
    }
    console.error('api: internal error', err);
    return reply.code(500).send(errorBody('INTERNAL', 'internal server error; see the server log'));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  });

  app.get('/healthz', { config: { summary: 'Liveness of the server' } }, async () => ({ status: 'ok' }));
  app.get('/v1/openapi.json', { config: { summary: 'This document' } }, async () =>
    openApiDocument(ops, PLINTH_VERSION),
  );
  modelRoutes(app, ctx);
  bundleRoutes(app, ctx);
  artifactRoutes(app, ctx);
  weightsRoutes(app, ctx);
  deploymentRoutes(app, ctx);
  replicaRoutes(app, ctx);
  developmentRoutes(app, ctx);
  instanceTypeRoutes(app, ctx);
  metricsRoutes(app, ctx);
  logRoutes(app, ctx);
  dashboardRoutes(app, ctx);
  apiKeyRoutes(app, ctx);
  secretRoutes(app, ctx);
  webhookSecretRoutes(app, ctx);
  deploymentBundleRoutes(app, ctx);
  environmentRoutes(app, ctx);
  return app;
}

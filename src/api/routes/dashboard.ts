// The dashboard at `/`: the Vite build in dist/dashboard (index.html and hashed assets), and the
// change streams that keep its pages live: server-sent events when a deployment of a model (or
// any) changes status, and a tick every few seconds for what moves without one (promotions,
// metrics).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PlinthError } from '../../domain/errors.ts';
import { packageRoot } from '../../package-root.ts';
import type { ApiContext } from '../context.ts';
import { findModel } from '../lookup.ts';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};
const TICK_MS = 2000;

/** What the dashboard's pages may load and do: only its own files and API; never framed. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function dashboardRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const root = join(packageRoot(), 'dist', 'dashboard');
  const send = (reply: FastifyReply, file: string, cache: string): FastifyReply => {
    if (!existsSync(join(root, 'index.html'))) {
      throw new PlinthError(
        'NOT_FOUND',
        'the dashboard is not built: run `npm run build` in the Plinth package',
      );
    }
    if (!existsSync(file) || !statSync(file).isFile()) throw new PlinthError('NOT_FOUND', 'no such file');
    return reply
      .headers(PAGE_HEADERS)
      .header('content-type', TYPES[extname(file)] ?? 'application/octet-stream')
      .header('cache-control', cache)
      .send(readFileSync(file));
  };
  app.get('/', { config: { summary: 'The dashboard' } }, async (_req, reply) =>
    send(reply, join(root, 'index.html'), 'no-cache'),
  );
  app.get<{ Params: { file: string } }>(
    '/assets/:file',
    { config: { summary: 'Dashboard assets' } },
    async (req, reply) => {
      if (!/^[\w-][\w.-]*$/.test(req.params.file)) throw new PlinthError('NOT_FOUND', 'no such asset');
      return send(reply, join(root, 'assets', req.params.file), 'public, max-age=31536000, immutable');
    },
  );

  const stream = (req: FastifyRequest, reply: FastifyReply, modelId: string | null): void => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.write(': open\n\n');
    const off = ctx.onStatusChange((d) => {
      if (modelId === null || d.model_id === modelId)
        res.write(`data: ${JSON.stringify({ deployment_id: d.id, status: d.status })}\n\n`);
    });
    const timer = setInterval(() => res.write(`data: {"tick":true}\n\n`), TICK_MS);
    req.raw.on('close', () => {
      off();
      clearInterval(timer);
    });
  };
  app.get(
    '/v1/changes',
    { config: { summary: 'Server-sent events when anything changes' } },
    async (req, reply) => stream(req, reply, null),
  );
  app.get<{ Params: { m: string } }>(
    '/v1/models/:m/changes',
    { config: { summary: "Server-sent events when a model's deployments change" } },
    async (req, reply) => stream(req, reply, (await findModel(ctx.store, req.params.m)).id),
  );
}

// GET /v1/models/{m}/deployments/{d}/logs: build, replica and platform records, filtered by time,
// level, replica, request id and text; `follow=true` keeps the answer open as server-sent events,
// one `data:` line per record as it is stored.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { LogQuery } from '../../store/store.ts';
import { LOG_LEVELS_AT_OR_ABOVE } from '../../observability/log-levels.ts';
import type { ApiContext } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';
import { logJson } from '../serialize.ts';
import { parseSince } from '../time-query.ts';
import { parseInput } from '../validate.ts';

const logQuery = z.object({
  since: z.string().optional(),
  until: z.string().optional(),
  level: z.enum(['DEBUG', 'INFO', 'WARNING', 'ERROR']).optional(),
  replica: z.string().optional(),
  request_id: z.string().optional(),
  search: z.string().optional(),
  after_id: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(10000).optional(),
  follow: z.enum(['true', 'false']).optional(),
  /** The newest `limit` lines rather than the oldest. */
  newest: z.enum(['true', 'false']).optional(),
});

const FOLLOW_POLL_MS = 200;

export function logRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { m: string; d: string }; Querystring: Record<string, string> }>(
    '/v1/models/:m/deployments/:d/logs',
    {
      config: {
        summary: 'Build, replica and platform logs of a deployment (follow=true: server-sent events)',
      },
    },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const q = parseInput(logQuery, req.query, 'query');
      const now = Date.now();
      const query: LogQuery = {
        deployment_id: d.id,
        since: q.since ? parseSince(q.since, now) : undefined,
        until: q.until ? parseSince(q.until, now) : undefined,
        levels: q.level ? LOG_LEVELS_AT_OR_ABOVE[q.level] : undefined,
        replica_id: q.replica,
        request_id: q.request_id,
        search: q.search,
        after_id: q.after_id,
        limit: q.limit,
        newest: q.newest === 'true',
      };
      if (q.follow !== 'true') return { logs: (await ctx.store.queryLogs(query)).map(logJson) };

      // Follow: the newest matching records so far (`limit`, default 100), then each new one.
      const shown = await ctx.store.queryLogs({
        ...query,
        until: undefined,
        limit: q.limit ?? 100,
        newest: true,
      });
      let afterId = Math.max(q.after_id ?? 0, shown.at(-1)?.id ?? 0);
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      for (const l of shown) reply.raw.write(`id: ${l.id}\ndata: ${JSON.stringify(logJson(l))}\n\n`);
      reply.raw.write(': following\n\n');
      let open = true;
      req.raw.on('close', () => (open = false));
      while (open) {
        await sleep(FOLLOW_POLL_MS);
        const fresh = await ctx.store.queryLogs({
          ...query,
          after_id: afterId,
          until: undefined,
          limit: 1000,
        });
        for (const l of fresh) {
          reply.raw.write(`id: ${l.id}\ndata: ${JSON.stringify(logJson(l))}\n\n`);
          afterId = l.id;
        }
        if (fresh.length === 0) reply.raw.write(': keep-alive\n\n');
      }
      reply.raw.end();
    },
  );
}

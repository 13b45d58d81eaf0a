// GET /v1/models/{m}/deployments/{d}/logs: build, replica and platform records, filtered by time,
// level, replica, request id and text; `follow=true` keeps the answer open as server-sent events,
// one `data:` line per record as it is stored. GET /v1/models/{m}/environments/{e}/logs: the same
// for the deployment the environment serves now (and a promotion's candidate while one is in
// progress), each record naming its deployment.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { LogRecord } from '../../domain/types.ts';
import type { LogQuery, Store } from '../../store/store.ts';
import { LOG_LEVELS_AT_OR_ABOVE } from '../../observability/log-levels.ts';
import type { ApiContext } from '../context.ts';
import { findDeployment, findModel, servedDeploymentIds } from '../lookup.ts';
import { logJson } from '../serialize.ts';
import { parseSince } from '../time-query.ts';
import { parseInput } from '../validate.ts';
import { findEnvironment } from './environments.ts';

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
const DEFAULT_LIMIT = 1000;

/** The records of several deployments matching `query`, merged in id order and cut to its limit. */
async function queryMany(
  store: Pick<Store, 'queryLogs'>,
  deploymentIds: readonly string[],
  query: Omit<LogQuery, 'deployment_id'>,
): Promise<LogRecord[]> {
  if (deploymentIds.length === 1) return store.queryLogs({ ...query, deployment_id: deploymentIds[0] });
  const limit = query.limit ?? DEFAULT_LIMIT;
  const all = (await Promise.all(deploymentIds.map((id) => store.queryLogs({ ...query, deployment_id: id }))))
    .flat()
    .sort((a, b) => a.id - b.id);
  return query.newest ? all.slice(-limit) : all.slice(0, limit);
}

/**
 * Answers a logs request for the deployments `deploymentIds` names (asked again at each poll of a
 * follow: a promotion may move the environment meanwhile); `named` adds each record's deployment.
 */
async function answerLogs(
  ctx: Pick<ApiContext, 'store'>,
  req: FastifyRequest,
  reply: FastifyReply,
  deploymentIds: () => Promise<string[]>,
  named: boolean,
) {
  const q = parseInput(logQuery, req.query, 'query');
  const now = Date.now();
  const query: Omit<LogQuery, 'deployment_id'> = {
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
  const json = (l: LogRecord) => (named ? { ...logJson(l), deployment_id: l.deployment_id } : logJson(l));
  const ids = await deploymentIds();
  if (q.follow !== 'true') return { logs: (await queryMany(ctx.store, ids, query)).map(json) };

  // Follow: the newest matching records so far (`limit`, default 100), then each new one.
  const shown = await queryMany(ctx.store, ids, {
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
  for (const l of shown) reply.raw.write(`id: ${l.id}\ndata: ${JSON.stringify(json(l))}\n\n`);
  reply.raw.write(': following\n\n');
  let open = true;
  req.raw.on('close', () => (open = false));
  while (open) {
    await sleep(FOLLOW_POLL_MS);
    const fresh = await queryMany(ctx.store, await deploymentIds(), {
      ...query,
      after_id: afterId,
      until: undefined,
      limit: 1000,
    });
    for (const l of fresh) {
      reply.raw.write(`id: ${l.id}\ndata: ${JSON.stringify(json(l))}\n\n`);
      afterId = l.id;
    }
    if (fresh.length === 0) reply.raw.write(': keep-alive\n\n');
  }
  reply.raw.end();
}

export function logRoutes(app: FastifyInstance, ctx: Pick<ApiContext, 'store'>): void {
  app.get<{ Params: { m: string; d: string } }>(
    '/v1/models/:m/deployments/:d/logs',
    {
      config: {
        summary: 'Build, replica and platform logs of a deployment (follow=true: server-sent events)',
      },
    },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      return answerLogs(ctx, req, reply, async () => [d.id], false);
    },
  );

  app.get<{ Params: { m: string; e: string } }>(
    '/v1/models/:m/environments/:e/logs',
    {
      config: {
        summary:
          "Logs of the deployment an environment serves (and of a promotion's candidate; follow=true: server-sent events)",
      },
    },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const env = await findEnvironment(ctx, model, req.params.e);
      // Read afresh each time: a follow goes on across a promotion.
      const served = async () => {
        const now = await ctx.store.getEnvironment(model.id, env.name);
        return now ? servedDeploymentIds(ctx.store, now) : [];
      };
      return answerLogs(ctx, req, reply, served, true);
    },
  );
}

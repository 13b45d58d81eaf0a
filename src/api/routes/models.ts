// /v1/models: list (whole, or a page at a time), create, get and delete models. A list reads its
// models, their environments and their deployment counts in three queries, however many models.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Environment, Model } from '../../domain/types.ts';
import { checkModelName } from '../../reconciler/lifecycle.ts';
import type { ApiContext } from '../context.ts';
import { findModel } from '../lookup.ts';
import { encodeCursor, parsePage } from '../pagination.ts';
import { modelJson } from '../serialize.ts';
import { parseInput } from '../validate.ts';

const createBody = z.strictObject({ name: z.string().min(1) });

export function modelRoutes(app: FastifyInstance, ctx: ApiContext): void {
  /** The models' JSON; `all` reads every model's environments and counts (no id list to send). */
  const describeMany = async (models: readonly Model[], all = false) => {
    const ids = all ? undefined : models.map((m) => m.id);
    const [environments, counts] = await Promise.all([
      ctx.store.listEnvironmentsOf(ids),
      ctx.store.countDeployments(ids),
    ]);
    const byModel = new Map<string, Environment[]>();
    for (const e of environments) {
      const list = byModel.get(e.model_id);
      if (list) list.push(e);
      else byModel.set(e.model_id, [e]);
    }
    return models.map((m) => modelJson(m, byModel.get(m.id) ?? [], counts.get(m.id)));
  };
  const describe = async (ref: string) => (await describeMany([await findModel(ctx.store, ref)]))[0]!;

  app.get('/v1/models', { config: { summary: 'List models (?limit=&cursor= for pages)' } }, async (req) => {
    const page = parsePage(req.query, 2);
    const after = page.after && { created_at: page.after[0]!, id: page.after[1]! };
    const limit = page.limit;
    const found = await ctx.store.listModels({ after, limit: limit === undefined ? undefined : limit + 1 });
    const models = limit === undefined ? found : found.slice(0, limit);
    const last = models.at(-1);
    return {
      models: await describeMany(models, after === undefined && limit === undefined),
      next_cursor: found.length > models.length && last ? encodeCursor([last.created_at, last.id]) : null,
    };
  });

  app.post(
    '/v1/models',
    { config: { summary: 'Create a model (a push creates one too)' } },
    async (req, reply) => {
      const body = parseInput(createBody, req.body, 'request body');
      const model = await ctx.store.createModel(checkModelName(body.name));
      reply.code(201);
      return describe(model.id);
    },
  );

  app.get<{ Params: { m: string } }>('/v1/models/:m', { config: { summary: 'Get a model' } }, async (req) =>
    describe(req.params.m),
  );

  app.delete<{ Params: { m: string } }>(
    '/v1/models/:m',
    { config: { summary: 'Delete a model and all its deployments' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      await ctx.lifecycle.deleteModel(model);
      ctx.gateway.resolver.invalidate();
      return { id: model.id, deleted: true };
    },
  );
}

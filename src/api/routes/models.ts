// /v1/models: list, create, get and delete models.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { checkModelName } from '../../reconciler/lifecycle.ts';
import type { ApiContext } from '../context.ts';
import { findModel } from '../lookup.ts';
import { modelJson } from '../serialize.ts';
import { parseInput } from '../validate.ts';

const createBody = z.strictObject({ name: z.string().min(1) });

export function modelRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const describe = async (id: string) => {
    const model = await findModel(ctx.store, id);
    return modelJson(
      model,
      await ctx.store.listEnvironments(model.id),
      await ctx.store.listDeployments({ model_id: model.id }),
    );
  };

  app.get('/v1/models', { config: { summary: 'List models' } }, async () => {
    const models = await ctx.store.listModels();
    return { models: await Promise.all(models.map((m) => describe(m.id))) };
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

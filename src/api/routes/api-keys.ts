// /v1/api_keys: create (the secret is in the answer, once), list, revoke. Only hashes are stored.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiKey } from '../../domain/types.ts';
import type { ApiContext } from '../context.ts';
import { parseInput } from '../validate.ts';

const createBody = z.strictObject({
  name: z.string().min(1).max(100),
  scope: z.enum(['admin', 'deploy', 'inference']),
  /** For an inference key: the models (ids or names) it may call. */
  models: z.array(z.string().min(1)).min(1).optional(),
});

function keyJson(k: ApiKey) {
  return {
    id: k.id,
    name: k.name,
    scope: k.scope,
    models: k.models,
    prefix: k.prefix,
    created_at: k.created_at,
    revoked_at: k.revoked_at,
  };
}

export function apiKeyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/v1/api_keys', { config: { summary: 'List API keys (never their secrets)' } }, async () => ({
    api_keys: (await ctx.store.listApiKeys()).map(keyJson),
  }));

  app.post(
    '/v1/api_keys',
    { config: { summary: 'Create an API key; its secret is shown once' } },
    async (req, reply) => {
      const body = parseInput(createBody, req.body, 'request body');
      const { key, secret } = await ctx.auth.create(body.name, body.scope, body.models ?? null);
      reply.code(201);
      return { ...keyJson(key), api_key: secret };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/api_keys/:id',
    { config: { summary: 'Revoke an API key' } },
    async (req) => {
      await ctx.auth.revoke(req.params.id);
      return { id: req.params.id, revoked: true };
    },
  );
}

// /v1/webhook_secrets (admin): make a secret that signs async webhooks (answered once), list them
// (ids and times, never values), revoke one after an overlap in which both it and the newer ones sign.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { parseInput } from '../validate.ts';

export function webhookSecretRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post(
    '/v1/webhook_secrets',
    { config: { summary: 'Create a webhook signing secret (its value is answered once)' } },
    async (_req, reply) => {
      reply.code(201);
      return ctx.webhookSecrets.create();
    },
  );

  app.get(
    '/v1/webhook_secrets',
    { config: { summary: 'List webhook secrets (ids and times only)' } },
    async () => ({
      webhook_secrets: await ctx.webhookSecrets.list(),
    }),
  );

  app.delete<{ Params: { id: string }; Querystring: { overlap_hours?: string } }>(
    '/v1/webhook_secrets/:id',
    { config: { summary: 'Revoke a webhook secret after an overlap (default 24 h)' } },
    async (req) => {
      const query = parseInput(
        z.strictObject({ overlap_hours: z.coerce.number().min(0).max(720).optional() }),
        req.query,
        'query',
      );
      const overlapMs = query.overlap_hours === undefined ? undefined : query.overlap_hours * 3600_000;
      return ctx.webhookSecrets.revoke(req.params.id, overlapMs);
    },
  );
}

// /v1/secrets: set, list and delete secrets. Values go in and are never given back: the list
// has names and times only.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { parseInput } from '../validate.ts';

export function secretRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/v1/secrets', { config: { summary: 'List secrets (names only, never values)' } }, async () => ({
    secrets: await ctx.vault.list(),
  }));

  // DESIGN §5's form: POST {"name", "value"} sets (or replaces) a secret, as PUT /v1/secrets/{name} does.
  app.post(
    '/v1/secrets',
    { config: { summary: 'Set a secret: {"name", "value"} (encrypted at rest; replaces one of that name)' } },
    async (req) => {
      const body = parseInput(
        z.strictObject({ name: z.string(), value: z.string() }),
        req.body,
        'request body',
      );
      return ctx.vault.set(body.name, body.value);
    },
  );

  app.put<{ Params: { name: string } }>(
    '/v1/secrets/:name',
    { config: { summary: 'Set a secret (encrypted at rest)' } },
    async (req) => {
      const body = parseInput(z.strictObject({ value: z.string() }), req.body, 'request body');
      return ctx.vault.set(req.params.name, body.value);
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/secrets/:name',
    { config: { summary: 'Delete a secret' } },
    async (req) => {
      await ctx.vault.delete(req.params.name);
      return { name: req.params.name, deleted: true };
    },
  );
}

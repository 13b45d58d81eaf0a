// Metrics: the Prometheus exposition at /metrics, and the series of one deployment or
// environment (`?since=1h&until=…&step=60`) for the CLI and the dashboard.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PlinthError } from '../../domain/errors.ts';
import { findInstanceType } from '../../domain/instance-types.ts';
import { deploymentScope, environmentScope } from '../../observability/series-store.ts';
import type { ApiContext } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';
import { parseInput } from '../validate.ts';
import { parseSince } from '../time-query.ts';
import { findEnvironment } from './environments.ts';

const MAX_POINTS = 2000;

const rangeQuery = z.object({
  since: z.string().default('1h'),
  until: z.string().optional(),
  step: z.coerce.number().int().min(1).max(86_400).optional(),
});

function parseTime(value: string, field: string, nowMs: number): number {
  const ms = Date.parse(parseSince(value, nowMs));
  if (Number.isNaN(ms)) {
    throw new PlinthError(
      'VALIDATION_ERROR',
      `query field "${field}": "${value}" is not a time (ISO, or 10m / 2h / 1d ago)`,
    );
  }
  return ms;
}

export function metricsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/metrics', { config: { summary: 'Prometheus metrics' } }, async (_req, reply) => {
    reply.header('content-type', ctx.telemetry.metrics.contentType);
    return ctx.telemetry.metrics.exposition();
  });

  const price = (name: string): number | null =>
    findInstanceType(ctx.instanceTypes, name)?.pricePerHour ?? null;
  const series = async (scope: string, query: unknown) => {
    const q = parseInput(rangeQuery, query, 'query');
    const now = Date.now();
    const from = parseTime(q.since, 'since', now);
    const to = q.until ? parseTime(q.until, 'until', now) : now;
    if (to <= from) throw new PlinthError('VALIDATION_ERROR', 'query field "until": must be after "since"');
    const step = q.step ?? Math.max(10, Math.ceil((to - from) / 1000 / 120 / 10) * 10);
    if ((to - from) / 1000 / step > MAX_POINTS) {
      throw new PlinthError(
        'VALIDATION_ERROR',
        `query field "step": ${step} s gives more than ${MAX_POINTS} points; use a larger step`,
      );
    }
    const points = await ctx.telemetry.series.query(scope, from, to, step, price);
    return { since: new Date(from).toISOString(), until: new Date(to).toISOString(), step, points };
  };

  app.get<{ Params: { m: string; d: string } }>(
    '/v1/models/:m/deployments/:d/metrics',
    { config: { summary: 'Metric series of a deployment' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      return { deployment_id: d.id, ...(await series(deploymentScope(d.id), req.query)) };
    },
  );

  app.get<{ Params: { m: string; e: string } }>(
    '/v1/models/:m/environments/:e/metrics',
    { config: { summary: 'Metric series of an environment' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const env = await findEnvironment(ctx, model, req.params.e);
      return { environment: env.name, ...(await series(environmentScope(model.id, env.name), req.query)) };
    },
  );
}

// Metrics: the Prometheus exposition at /metrics, and the metrics of one deployment or
// environment for the CLI and the dashboard, in three modes: `series` (the default: points of
// `step` seconds over `since`…`until`), `summary` (the totals of that range) and `current` (the
// values now, with the last minute's rate, latency and errors).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PlinthError } from '../../domain/errors.ts';
import { findInstanceType } from '../../domain/instance-types.ts';
import { mergeProcessMetrics } from '../../observability/merged-metrics.ts';
import { currentOf, currentWindow, METRIC_MODES, summarize } from '../../observability/metric-summary.ts';
import type { LiveCounts } from '../../observability/metric-summary.ts';
import { deploymentScope, environmentScope } from '../../observability/series-store.ts';
import type { ApiContext } from '../context.ts';
import { replicaPhases } from '../context.ts';
import { findDeployment, findModel, servedDeploymentIds } from '../lookup.ts';
import { parseInput } from '../validate.ts';
import { parseSince } from '../time-query.ts';
import { findEnvironment } from './environments.ts';

const MAX_POINTS = 2000;

const metricsQuery = z.object({
  mode: z
    .enum(METRIC_MODES, {
      error: (issue) => `"${String(issue.input)}" is not a mode; expected one of ${METRIC_MODES.join(', ')}`,
    })
    .default('series'),
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
    if (!ctx.workerMetrics) return ctx.telemetry.metrics.exposition();
    // Gateway workers count what they serve: every process's registry, merged.
    const own = { process: 'primary', metrics: await ctx.telemetry.metrics.registry.getMetricsAsJSON() };
    return mergeProcessMetrics([own, ...(await ctx.workerMetrics())]).metrics();
  });

  const price = (name: string): number | null =>
    findInstanceType(ctx.instanceTypes, name)?.pricePerHour ?? null;

  /** Requests and replicas of these deployments now, added up. */
  const live = async (deploymentIds: readonly string[]): Promise<LiveCounts> => {
    const out: LiveCounts = { inFlight: 0, queued: 0, replicasActive: 0, replicasStarting: 0 };
    for (const id of deploymentIds) {
      const load = ctx.gateway.load(id);
      out.inFlight += load.inFlight;
      out.queued += load.queued;
      for (const r of await replicaPhases(ctx, id)) {
        if (r.phase === 'READY') out.replicasActive++;
        else if (r.phase === 'STARTING') out.replicasStarting++;
      }
    }
    return out;
  };

  /** The answer of a scope in the mode asked for; `served`: the deployments whose live counts `current` adds. */
  const metrics = async (scope: string, query: unknown, served: () => Promise<string[]>) => {
    const q = parseInput(metricsQuery, query, 'query');
    const now = Date.now();
    if (q.mode === 'current') {
      const window = currentWindow(now);
      const last = await ctx.telemetry.series.total(scope, window.fromMs, now);
      return {
        mode: q.mode,
        time: new Date(now).toISOString(),
        ...currentOf(await live(await served()), last, window.seconds),
      };
    }
    const from = parseTime(q.since, 'since', now);
    const to = q.until ? parseTime(q.until, 'until', now) : now;
    if (to <= from) throw new PlinthError('VALIDATION_ERROR', 'query field "until": must be after "since"');
    const range = { since: new Date(from).toISOString(), until: new Date(to).toISOString() };
    if (q.mode === 'summary') {
      const total = await ctx.telemetry.series.total(scope, from, to);
      return { mode: q.mode, ...range, ...summarize(total, (to - from) / 1000, price) };
    }
    const step = q.step ?? Math.max(10, Math.ceil((to - from) / 1000 / 120 / 10) * 10);
    if ((to - from) / 1000 / step > MAX_POINTS) {
      throw new PlinthError(
        'VALIDATION_ERROR',
        `query field "step": ${step} s gives more than ${MAX_POINTS} points; use a larger step`,
      );
    }
    const points = await ctx.telemetry.series.query(scope, from, to, step, price);
    return { ...range, step, points };
  };

  app.get<{ Params: { m: string; d: string } }>(
    '/v1/models/:m/deployments/:d/metrics',
    { config: { summary: 'Metrics of a deployment (mode=series|summary|current)' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      return {
        deployment_id: d.id,
        ...(await metrics(deploymentScope(d.id), req.query, async () => [d.id])),
      };
    },
  );

  app.get<{ Params: { m: string; e: string } }>(
    '/v1/models/:m/environments/:e/metrics',
    { config: { summary: 'Metrics of an environment (mode=series|summary|current)' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const env = await findEnvironment(ctx, model, req.params.e);
      return {
        environment: env.name,
        ...(await metrics(environmentScope(model.id, env.name), req.query, () =>
          servedDeploymentIds(ctx.store, env),
        )),
      };
    },
  );
}

// The development deployment's live reload: patches against the bundle it holds, and the lease a
// running watch renews so that the deployment stays awake between edits.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { checkPatch } from '../../bundle/patch.ts';
import type { Model } from '../../domain/types.ts';
import type { ReloadResult } from '../../reconciler/development.ts';
import type { ApiContext } from '../context.ts';
import { replicaPhases } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';
import { deploymentJson } from '../serialize.ts';
import { parseInput } from '../validate.ts';

export async function reloadJson(ctx: ApiContext, model: Model, result: ReloadResult) {
  const d = result.deployment;
  return {
    ...deploymentJson(
      model,
      d,
      await ctx.store.listEnvironments(model.id),
      await replicaPhases(ctx, d.id),
      ctx.urls,
    ),
    reload: {
      changed: result.changed,
      bundle_sha256: result.bundle_sha256,
      replica_id: result.replica_id,
      took_ms: result.took_ms,
    },
  };
}

export function developmentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Params: { m: string } }>(
    '/v1/models/:m/deployments/development/patches',
    {
      bodyLimit: Math.ceil(ctx.maxBundleBytes * 1.4),
      config: { summary: 'Apply a patch (changed and removed files) to the development deployment' },
    },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, 'development');
      return reloadJson(ctx, model, await ctx.development.patch(d, checkPatch(req.body)));
    },
  );

  app.post<{ Params: { m: string } }>(
    '/v1/models/:m/deployments/development/keep_awake',
    { config: { summary: 'Keep the development deployment awake for a while (a watch is running)' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, 'development');
      const body = parseInput(
        z.strictObject({ seconds: z.number().int().min(1).max(3600).default(60) }),
        req.body ?? {},
        'request body',
      );
      const until = ctx.development.keepAwake(d.id, body.seconds);
      await ctx.lifecycle.wake(d, 1, 'a watch is running');
      return { deployment_id: d.id, awake_until: new Date(until).toISOString() };
    },
  );
}

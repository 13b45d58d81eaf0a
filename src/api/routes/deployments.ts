// /v1/models/{m}/deployments…: create (from an uploaded bundle), list, get, delete, and each
// deployment's events (its replicas: replicas.ts).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { replicaPhases } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';
import { pageOf, parsePage } from '../pagination.ts';
import { deploymentJson, eventJson, promotionJson } from '../serialize.ts';
import { knownInstanceType, mergeAutoscaling } from '../settings-bodies.ts';
import { reloadJson } from './development.ts';
import { requester } from './environments.ts';
import { parseInput } from '../validate.ts';
import type { Deployment, Model } from '../../domain/types.ts';

const createBody = z.strictObject({
  bundle_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 (64 lowercase hex characters)'),
  deployment_name: z.string().min(1).optional(),
  development: z.boolean().optional(),
});

type DeploymentParams = { Params: { m: string; d: string } };

export function deploymentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const describe = async (model: Model, d: Deployment) =>
    deploymentJson(
      model,
      d,
      await ctx.store.listEnvironments(model.id),
      await replicaPhases(ctx, d.id),
      ctx.urls,
    );

  app.get<{ Params: { m: string } }>(
    '/v1/models/:m/deployments',
    { config: { summary: 'List deployments (?limit=&cursor= for pages)' } },
    async (req) => {
      const page = parsePage(req.query, 2);
      const model = await findModel(ctx.store, req.params.m);
      const envs = await ctx.store.listEnvironments(model.id);
      const all = await ctx.store.listDeployments({ model_id: model.id });
      const shown = pageOf(all, page, (d) => [d.created_at, d.id]);
      return {
        deployments: await Promise.all(
          shown.items.map(async (d) =>
            deploymentJson(model, d, envs, await replicaPhases(ctx, d.id), ctx.urls),
          ),
        ),
        next_cursor: shown.next_cursor,
      };
    },
  );

  app.post<{ Params: { m: string } }>(
    '/v1/models/:m/deployments',
    { config: { summary: 'Create a deployment from an uploaded bundle' } },
    async (req, reply) => {
      const body = parseInput(createBody, req.body, 'request body');
      if (body.development) {
        // The development deployment is updated in place: a full sync of the watched directory.
        const model = await ctx.store.getModel(req.params.m);
        const existing =
          model && (await ctx.store.listDeployments({ model_id: model.id })).find((d) => d.is_development);
        if (model && existing)
          return reloadJson(ctx, model, await ctx.development.replace(existing, body.bundle_sha256));
      }
      const created = await ctx.lifecycle.createDeployment({
        modelName: req.params.m,
        bundleSha256: body.bundle_sha256,
        deploymentName: body.deployment_name,
        development: body.development,
      });
      ctx.gateway.resolver.invalidate();
      reply.code(201);
      return { ...(await describe(created.model, created.deployment)), warnings: created.warnings };
    },
  );

  app.get<DeploymentParams>(
    '/v1/models/:m/deployments/:d',
    { config: { summary: 'Get a deployment' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      return describe(model, await findDeployment(ctx.store, model, req.params.d));
    },
  );

  app.delete<DeploymentParams>(
    '/v1/models/:m/deployments/:d',
    { config: { summary: 'Delete a deployment' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      await ctx.lifecycle.deleteDeployment(d);
      return { id: d.id, deleted: true };
    },
  );

  const action = (verb: 'activate' | 'deactivate' | 'retry', summary: string): void => {
    app.post<DeploymentParams>(
      `/v1/models/:m/deployments/:d/${verb}`,
      { config: { summary } },
      async (req) => {
        const model = await findModel(ctx.store, req.params.m);
        const d = await findDeployment(ctx.store, model, req.params.d);
        return describe(model, await ctx.lifecycle[verb](d));
      },
    );
  };
  action('activate', 'Activate an inactive deployment');
  action('deactivate', 'Deactivate a deployment (drain, stop replicas)');
  action('retry', 'Build or start a failed deployment again');

  app.post<DeploymentParams>(
    '/v1/models/:m/deployments/:d/promote',
    { config: { summary: 'Promote a deployment to production' } },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const body = parseInput(
        z.strictObject({
          preserve_previous_deployment: z.boolean().optional(),
          preserve_env_instance_type: z.boolean().optional(),
        }),
        req.body ?? {},
        'request body',
      );
      const production = (await ctx.store.getEnvironment(model.id, 'production'))!;
      const promotion = await ctx.promotions.promote(model, production, d, {
        preservePrevious: body.preserve_previous_deployment,
        preserveEnvInstanceType: body.preserve_env_instance_type,
        requestedBy: requester(req),
      });
      reply.code(promotion ? 202 : 200);
      return promotion
        ? promotionJson(promotion)
        : { status: 'SUCCEEDED', reason: `${d.name} already serves production` };
    },
  );

  app.patch<DeploymentParams>(
    '/v1/models/:m/deployments/:d',
    { config: { summary: 'Rename a deployment, change its autoscaling settings or its instance type' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      let d = await findDeployment(ctx.store, model, req.params.d);
      const body = parseInput(
        z.strictObject({
          name: z.string().min(1).optional(),
          autoscaling_settings: z.unknown().optional(),
          instance_type_name: z.string().min(1).optional(),
        }),
        req.body,
        'request body',
      );
      if (body.name !== undefined) d = await ctx.lifecycle.rename(d, body.name);
      if (body.instance_type_name !== undefined) {
        // Its replicas are replaced one by one, new before old (the reconciler's rolling plan).
        const type = knownInstanceType(ctx.instanceTypes, body.instance_type_name, 'instance_type_name');
        d = await ctx.lifecycle.changeInstanceType(d, type.name);
      }
      if (body.autoscaling_settings !== undefined) {
        d = await ctx.store.updateDeployment(d.id, {
          autoscaling_settings: mergeAutoscaling(d.autoscaling_settings, body.autoscaling_settings, {
            development: d.is_development,
          }),
        });
      }
      return describe(model, d);
    },
  );

  app.get<DeploymentParams>(
    '/v1/models/:m/deployments/:d/autoscaling_settings',
    { config: { summary: 'Autoscaling settings of a deployment' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      return (await findDeployment(ctx.store, model, req.params.d)).autoscaling_settings;
    },
  );

  app.patch<DeploymentParams>(
    '/v1/models/:m/deployments/:d/autoscaling_settings',
    { config: { summary: 'Change autoscaling settings (partial)' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const settings = mergeAutoscaling(d.autoscaling_settings, req.body ?? {}, {
        development: d.is_development,
      });
      const updated = await ctx.store.updateDeployment(d.id, { autoscaling_settings: settings });
      // A minimum above zero applies to a deployment at zero too (the autoscaler leaves those alone).
      if (settings.min_replica > 0)
        await ctx.lifecycle.wake(updated, settings.min_replica, 'min_replica raised');
      // The environment a deployment serves owns its settings: keep the two the same.
      const env = (await ctx.store.listEnvironments(model.id)).find((e) => e.current_deployment_id === d.id);
      if (env) await ctx.store.updateEnvironment(env.id, { autoscaling_settings: settings });
      return settings;
    },
  );

  app.get<DeploymentParams>(
    '/v1/models/:m/deployments/:d/events',
    { config: { summary: 'Status changes of a deployment' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      return { events: (await ctx.store.listEvents(d.id)).map(eventJson) };
    },
  );

  app.get<DeploymentParams>(
    '/v1/models/:m/deployments/:d/async_queue',
    { config: { summary: "A deployment's async requests: queued and in progress" } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      return ctx.store.asyncQueueStatus(d.id);
    },
  );
}

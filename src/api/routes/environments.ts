// /v1/models/{m}/environments…: stable endpoints, their settings, promotion and its history.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DEFAULT_PROMOTION_SETTINGS } from '../../domain/autoscaling.ts';
import { PlinthError } from '../../domain/errors.ts';
import type { Environment, Model, PromotionAction } from '../../domain/types.ts';
import { checkName } from '../../reconciler/lifecycle.ts';
import type { ApiContext } from '../context.ts';
import { replicaPhases } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';
import { pageOf, parsePage } from '../pagination.ts';
import { deploymentJson, environmentJson, promotionJson } from '../serialize.ts';
import { knownInstanceType, mergeAutoscaling, mergePromotionSettings } from '../settings-bodies.ts';
import { parseInput } from '../validate.ts';

const createBody = z.strictObject({
  name: z.string().min(1),
  autoscaling_settings: z.unknown().optional(),
  promotion_settings: z.unknown().optional(),
  instance_type_name: z.string().min(1).nullable().optional(),
  /** Inference on this environment's URL needs no API key. */
  public: z.boolean().optional(),
});

const patchBody = createBody.omit({ name: true });

const promoteBody = z.strictObject({
  deployment_id: z.string().min(1),
  preserve_previous_deployment: z.boolean().optional(),
  preserve_env_instance_type: z.boolean().optional(),
});

type EnvParams = { Params: { m: string; e: string } };

export function requester(req: FastifyRequest): string {
  return (req as FastifyRequest & { apiKeyName?: string }).apiKeyName ?? 'unknown';
}

export async function findEnvironment(
  ctx: Pick<ApiContext, 'store'>,
  model: Model,
  name: string,
): Promise<Environment> {
  const env = await ctx.store.getEnvironment(model.id, name);
  if (!env)
    throw new PlinthError('ENVIRONMENT_NOT_FOUND', `model ${model.name} has no environment "${name}"`);
  return env;
}

export function environmentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const describe = async (model: Model, env: Environment) => {
    const current = env.current_deployment_id
      ? await ctx.store.getDeployment(env.current_deployment_id)
      : undefined;
    const envs = await ctx.store.listEnvironments(model.id);
    const inProgress = (await ctx.store.listPromotions({ environment_id: env.id, status: 'IN_PROGRESS' }))[0];
    return environmentJson(
      model,
      env,
      current ? deploymentJson(model, current, envs, await replicaPhases(ctx, current.id), ctx.urls) : null,
      inProgress,
      ctx.urls.environmentUrl(model, env.name),
    );
  };

  app.get<{ Params: { m: string } }>(
    '/v1/models/:m/environments',
    { config: { summary: 'List environments (?limit=&cursor= for pages)' } },
    async (req) => {
      const page = parsePage(req.query, 2);
      const model = await findModel(ctx.store, req.params.m);
      const envs = pageOf(await ctx.store.listEnvironments(model.id), page, (e) => [e.created_at, e.name]);
      return {
        environments: await Promise.all(envs.items.map((e) => describe(model, e))),
        next_cursor: envs.next_cursor,
      };
    },
  );

  app.post<{ Params: { m: string } }>(
    '/v1/models/:m/environments',
    { config: { summary: 'Create an environment' } },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const body = parseInput(createBody, req.body, 'request body');
      const base = await ctx.store.getEnvironment(model.id, 'production');
      const env = await ctx.store.createEnvironment(model.id, checkName('environment', body.name), {
        autoscaling_settings: mergeAutoscaling(base!.autoscaling_settings, body.autoscaling_settings ?? {}),
        promotion_settings: mergePromotionSettings(
          { ...DEFAULT_PROMOTION_SETTINGS },
          body.promotion_settings ?? {},
        ),
        instance_type_name: body.instance_type_name
          ? knownInstanceType(ctx.instanceTypes, body.instance_type_name, 'instance_type_name').name
          : null,
        public: body.public ?? false,
      });
      reply.code(201);
      return describe(model, env);
    },
  );

  app.get<EnvParams>(
    '/v1/models/:m/environments/:e',
    { config: { summary: 'Get an environment with its promotion history' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const env = await findEnvironment(ctx, model, req.params.e);
      const history = await ctx.store.listPromotions({ environment_id: env.id });
      return { ...(await describe(model, env)), promotions: history.map(promotionJson) };
    },
  );

  app.patch<EnvParams>(
    '/v1/models/:m/environments/:e',
    { config: { summary: 'Update environment settings' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const env = await findEnvironment(ctx, model, req.params.e);
      const body = parseInput(patchBody, req.body, 'request body');
      const autoscaling =
        body.autoscaling_settings === undefined
          ? undefined
          : mergeAutoscaling(env.autoscaling_settings, body.autoscaling_settings);
      const updated = await ctx.store.updateEnvironment(env.id, {
        autoscaling_settings: autoscaling,
        promotion_settings:
          body.promotion_settings === undefined
            ? undefined
            : mergePromotionSettings(env.promotion_settings, body.promotion_settings),
        instance_type_name: body.instance_type_name
          ? knownInstanceType(ctx.instanceTypes, body.instance_type_name, 'instance_type_name').name
          : body.instance_type_name,
        public: body.public,
      });
      ctx.gateway.resolver.invalidate();
      // The environment owns the autoscaling settings of the deployment it serves.
      if (autoscaling && env.current_deployment_id) {
        await ctx.store.updateDeployment(env.current_deployment_id, { autoscaling_settings: autoscaling });
      }
      return describe(model, updated);
    },
  );

  app.delete<EnvParams>(
    '/v1/models/:m/environments/:e',
    { config: { summary: 'Delete an environment (not production)' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const env = await findEnvironment(ctx, model, req.params.e);
      if (env.name === 'production')
        throw new PlinthError('CONFLICT', 'the production environment cannot be deleted');
      const inProgress = (
        await ctx.store.listPromotions({ environment_id: env.id, status: 'IN_PROGRESS' })
      )[0];
      if (inProgress) await ctx.promotions.act(env, 'force_cancel', requester(req));
      await ctx.store.deleteEnvironment(env.id);
      ctx.gateway.resolver.invalidate();
      return { name: env.name, deleted: true };
    },
  );

  app.post<EnvParams>(
    '/v1/models/:m/environments/:e/promote',
    { config: { summary: 'Promote a deployment to this environment' } },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const env = await findEnvironment(ctx, model, req.params.e);
      const body = parseInput(promoteBody, req.body, 'request body');
      const candidate = await findDeployment(ctx.store, model, body.deployment_id);
      const promotion = await ctx.promotions.promote(model, env, candidate, {
        preservePrevious: body.preserve_previous_deployment,
        preserveEnvInstanceType: body.preserve_env_instance_type,
        requestedBy: requester(req),
      });
      reply.code(promotion ? 202 : 200);
      return describe(model, (await ctx.store.getEnvironment(model.id, env.name))!);
    },
  );

  for (const [route, action, summary] of PROMOTION_ACTIONS) {
    app.post<EnvParams>(`/v1/models/:m/environments/:e/${route}`, { config: { summary } }, async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const env = await findEnvironment(ctx, model, req.params.e);
      parseInput(emptyBody, req.body ?? {}, 'request body');
      const acted = await ctx.promotions.act(env, action, requester(req));
      const now = (await ctx.store.getEnvironment(model.id, env.name)) ?? env;
      // `cancelled_promotion` stays for scripts written against the first cancel route.
      const extra =
        action === 'cancel' || action === 'force_cancel' ? { cancelled_promotion: promotionJson(acted) } : {};
      return { ...(await describe(model, now)), promotion: promotionJson(acted), ...extra };
    });
  }

  for (const active of [true, false]) {
    app.post<EnvParams>(
      `/v1/models/:m/environments/:e/${active ? 'activate' : 'deactivate'}`,
      {
        config: {
          summary: active
            ? 'Activate an environment (and the deployment it serves)'
            : 'Deactivate an environment: its URL answers ENVIRONMENT_INACTIVE, its deployment stops and keeps its settings',
        },
      },
      async (req) => {
        const model = await findModel(ctx.store, req.params.m);
        const env = await findEnvironment(ctx, model, req.params.e);
        parseInput(emptyBody, req.body ?? {}, 'request body');
        return describe(model, await setEnvironmentActive(ctx, env, active, requester(req)));
      },
    );
  }
}

const emptyBody = z.strictObject({});

/** The promotion actions, each its own route (the names hosted platforms use). */
const PROMOTION_ACTIONS: [string, Exclude<PromotionAction, 'promote'>, string][] = [
  ['cancel_promotion', 'cancel', 'Cancel the promotion in progress (a rolling deploy rolls back in steps)'],
  ['pause_promotion', 'pause', 'Pause the promotion in progress: traffic and replicas hold where they are'],
  ['resume_promotion', 'resume', 'Resume a paused promotion from where it stood'],
  [
    'force_cancel_promotion',
    'force_cancel',
    'Cancel now: all traffic back to the previous deployment at once, the candidate stopped',
  ],
  ['force_roll_forward_promotion', 'force_roll_forward', 'Finish now: all traffic to the candidate at once'],
];

/**
 * Deactivating stops the environment's promotion (traffic back at once) and deactivates the
 * deployment it serves, which keeps its settings; activating brings that deployment back.
 */
async function setEnvironmentActive(
  ctx: ApiContext,
  env: Environment,
  active: boolean,
  by: string,
): Promise<Environment> {
  const updated =
    env.is_active === active ? env : await ctx.store.updateEnvironment(env.id, { is_active: active });
  ctx.gateway.resolver.invalidate();
  if (!active) {
    // After the flag: a promotion that started meanwhile is cancelled too.
    const inProgress = (await ctx.store.listPromotions({ environment_id: env.id, status: 'IN_PROGRESS' }))[0];
    if (inProgress) await ctx.promotions.act(env, 'force_cancel', by);
  }
  // What it serves now (a promotion may have switched it since it was read).
  const now = (await ctx.store.getEnvironment(env.model_id, env.name)) ?? updated;
  const current = now.current_deployment_id
    ? await ctx.store.getDeployment(now.current_deployment_id)
    : undefined;
  if (current && active) await ctx.lifecycle.activate(current);
  if (current && !active) await ctx.lifecycle.deactivate(current);
  return now;
}

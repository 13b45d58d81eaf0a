// Finds the model and deployment a management URL names ({m}: id or name; {d}: id, name,
// `production` or `development`), with the catalogue's not-found errors; and the deployments an
// environment serves.
import { PlinthError } from '../domain/errors.ts';
import type { Deployment, Environment, Model } from '../domain/types.ts';
import type { Store } from '../store/store.ts';

export async function findModel(store: Store, ref: string): Promise<Model> {
  const model = await store.getModel(ref);
  if (!model) throw new PlinthError('MODEL_NOT_FOUND', `model "${ref}" not found`);
  return model;
}

export async function findDeployment(store: Store, model: Model, ref: string): Promise<Deployment> {
  if (ref === 'production') {
    const env = await store.getEnvironment(model.id, 'production');
    const d = env?.current_deployment_id ? await store.getDeployment(env.current_deployment_id) : undefined;
    if (!d) throw new PlinthError('DEPLOYMENT_NOT_FOUND', `model ${model.name} has no production deployment`);
    return d;
  }
  const all = await store.listDeployments({ model_id: model.id });
  const d =
    ref === 'development'
      ? all.find((x) => x.is_development)
      : (all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref));
  if (!d && ref === 'development') {
    throw new PlinthError(
      'DEPLOYMENT_NOT_FOUND',
      `model ${model.name} has no development deployment; create one with \`plinth push --watch\``,
    );
  }
  if (!d) throw new PlinthError('DEPLOYMENT_NOT_FOUND', `model ${model.name} has no deployment "${ref}"`);
  return d;
}

/**
 * The deployments an environment serves now: its current one (if any) and, while a promotion is in
 * progress, the promotion's candidate.
 */
export async function servedDeploymentIds(
  store: Pick<Store, 'listPromotions'>,
  env: Environment,
): Promise<string[]> {
  const promotion = (await store.listPromotions({ environment_id: env.id, status: 'IN_PROGRESS' }))[0];
  const ids = [env.current_deployment_id, promotion?.to_deployment_id];
  return [...new Set(ids.filter((id): id is string => typeof id === 'string'))];
}

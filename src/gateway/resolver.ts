// Resolves an inference route to the deployment that serves it, with a short-lived cache that
// the platform invalidates whenever deployments or environments change. While the store cannot be
// reached, a route resolved before resolves as it did then (a short store outage fails no request).
import { PlinthError } from '../domain/errors.ts';
import type { Deployment, Model, PromotionPhase } from '../domain/types.ts';
import type { Store } from '../store/store.ts';
import type { InferenceRoute } from './routing.ts';

/** What the gateway reads to resolve a request to a deployment. */
export type RouteReader = Pick<
  Store,
  'getModel' | 'getDeployment' | 'getEnvironment' | 'listDeployments' | 'listPromotions'
>;

export interface ResolvedTarget {
  model: Model;
  deployment: Deployment;
  /** The environment the request named, if any. */
  environment: string | null;
  /** The named environment answers without an API key. */
  public: boolean;
  /** While a gradual promotion ramps: the candidate and its share of new requests (0–100). */
  split: { deployment: Deployment; percent: number } | null;
}

const TTL_MS = 2000;

/** Promotion phases in which part of an environment's traffic goes to the candidate. */
const SPLITTING_PHASES: ReadonlySet<PromotionPhase> = new Set(['RAMPING', 'ROLLING', 'ROLLING_BACK']);

export class TargetResolver {
  private readonly cache = new Map<
    string,
    { value: Promise<ResolvedTarget>; resolved: ResolvedTarget | undefined; expiresAtMs: number }
  >();

  /** The last answer per route, used only while the store cannot be reached. */
  private readonly lastGood = new Map<string, ResolvedTarget>();

  constructor(private readonly store: RouteReader) {}

  invalidate(): void {
    this.cache.clear();
  }

  /** Forgets the routes that led to a deleted deployment (kept for store outages otherwise). */
  forget(deploymentId: string): void {
    this.cache.clear();
    for (const [key, target] of this.lastGood) {
      if (target.deployment.id === deploymentId || target.split?.deployment.id === deploymentId)
        this.lastGood.delete(key);
    }
  }

  /** Routes remembered for store outages. */
  get size(): number {
    return this.lastGood.size;
  }

  /** The target, synchronously when it is cached (the hot path), else a promise of it. */
  resolve(route: InferenceRoute): ResolvedTarget | Promise<ResolvedTarget> {
    const t = route.target;
    const key = `${route.modelRef}\0${t.kind}\0${t.kind === 'environment' ? t.name : t.kind === 'deployment' ? t.id : ''}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.expiresAtMs > now) return hit.resolved ?? hit.value;
    const value = this.lookup(route).then(
      (resolved) => {
        this.lastGood.set(key, resolved);
        return resolved;
      },
      (err: unknown) => {
        const stale = this.lastGood.get(key);
        if (err instanceof PlinthError || !stale) throw err;
        return stale;
      },
    );
    const entry = { value, resolved: undefined as ResolvedTarget | undefined, expiresAtMs: now + TTL_MS };
    this.cache.set(key, entry);
    value.then(
      (resolved) => (entry.resolved = resolved),
      () => this.cache.delete(key),
    );
    return value;
  }

  private async lookup(route: InferenceRoute): Promise<ResolvedTarget> {
    const model = await this.store.getModel(route.modelRef);
    if (!model) throw new PlinthError('MODEL_NOT_FOUND', `model "${route.modelRef}" not found`);
    const t = route.target;
    if (t.kind === 'environment') {
      const env = await this.store.getEnvironment(model.id, t.name);
      if (!env)
        throw new PlinthError('ENVIRONMENT_NOT_FOUND', `model ${model.name} has no environment "${t.name}"`, {
          model,
        });
      if (!env.current_deployment_id) {
        throw new PlinthError(
          'NO_DEPLOYMENT',
          `environment "${t.name}" of model ${model.name} has no deployment yet; promote one to it`,
          { model },
        );
      }
      const deployment = await this.store.getDeployment(env.current_deployment_id);
      if (!deployment)
        throw new PlinthError(
          'DEPLOYMENT_NOT_FOUND',
          `environment "${t.name}" points at a missing deployment`,
          { model },
        );
      if (!env.is_active) {
        throw new PlinthError(
          'ENVIRONMENT_INACTIVE',
          `environment "${t.name}" of model ${model.name} is inactive; activate it to call it`,
          { model },
        );
      }
      const ramping = (await this.store.listPromotions({ environment_id: env.id, status: 'IN_PROGRESS' }))[0];
      const candidate =
        ramping && SPLITTING_PHASES.has(ramping.phase) && ramping.traffic_percent > 0
          ? await this.store.getDeployment(ramping.to_deployment_id)
          : undefined;
      return {
        model,
        deployment,
        environment: t.name,
        public: env.public,
        split: candidate ? { deployment: candidate, percent: ramping!.traffic_percent } : null,
      };
    }
    if (t.kind === 'development') {
      const dev = (await this.store.listDeployments({ model_id: model.id })).find((d) => d.is_development);
      if (!dev) {
        throw new PlinthError(
          'DEPLOYMENT_NOT_FOUND',
          `model ${model.name} has no development deployment; create one with \`plinth push --watch\``,
          { model },
        );
      }
      return { model, deployment: dev, environment: null, public: false, split: null };
    }
    const deployment = await this.store.getDeployment(t.id);
    if (!deployment || deployment.model_id !== model.id) {
      throw new PlinthError('DEPLOYMENT_NOT_FOUND', `model ${model.name} has no deployment "${t.id}"`, {
        model,
      });
    }
    return { model, deployment, environment: null, public: false, split: null };
  }
}

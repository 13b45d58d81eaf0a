// Deployment lifecycle commands: create a deployment from an uploaded bundle (checked, extracted,
// its config validated before anything is recorded), delete deployments and models, and promote
// a model's first published deployment (or the next, while production's never served) to production.
import { mkdirSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ArtifactStore } from '../bundle/artifact-store.ts';
import {
  bundleFiles,
  bundlePath,
  DEFAULT_EXTRACT_LIMITS,
  extractBundle,
  inspectBundle,
} from '../bundle/extract.ts';
import { checkWeightsConfig } from '../weights/plan.ts';
import { findModelEntry } from '../config/model-entry.ts';
import { parseConfigOffThread } from '../config/parse-off-thread.ts';
import { checkConfigSize, MAX_CONFIG_BYTES } from '../config/parse.ts';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import { resolveInstanceType } from '../domain/instance-types.ts';
import type { InstanceType } from '../domain/instance-types.ts';
import { PlinthError } from '../domain/errors.ts';
import { Signal } from '../domain/signal.ts';
import { NAME_PATTERN, newId } from '../domain/ids.ts';
import { modelNameProblem, quoteModelName } from '../domain/model-name.ts';
import { canMove, canWake, isFailed, isInactive, retryTarget } from '../domain/deployment-status.ts';
import type { Deployment, Model } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';
import type { ReplicaStopper } from './replica-stopper.ts';
import type { StatusRecorder } from '../store/status-recorder.ts';
import type { MoveOutcome, Store } from '../store/store.ts';

export interface CreateDeploymentInput {
  modelName: string;
  bundleSha256: string;
  deploymentName?: string;
  /** The model's development deployment (at most one; max one replica; never promoted). */
  development?: boolean;
}

export interface CreatedDeployment {
  model: Model;
  deployment: Deployment;
  warnings: string[];
}

export interface LifecycleDeps {
  store: Store;
  artifacts: ArtifactStore;
  home: PlinthHome;
  /** Drains and stops the replicas of deleted deployments. */
  stopper: Pick<ReplicaStopper, 'stopAll'>;
  status: StatusRecorder;
  /** Wakes the build controller and reconciler. */
  kick: () => void;
  /** Forgets a deployment's failed starts (a retry begins afresh). */
  resetFailures: (deploymentId: string) => void;
  instanceTypes: readonly InstanceType[];
}

/** A model's name: any text Truss takes (see domain/model-name.ts). */
export function checkModelName(name: string): string {
  const problem = modelNameProblem(name);
  if (problem)
    throw new PlinthError(
      'VALIDATION_ERROR',
      `model name ${quoteModelName(name)} is not allowed: ${problem}`,
    );
  return name;
}

/** A deployment's or an environment's name. */
export function checkName(kind: 'deployment' | 'environment', name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new PlinthError(
      'VALIDATION_ERROR',
      `${kind} name "${name}" is not allowed: use letters, digits, ".", "_" and "-" (at most 63, starting with a letter or digit)`,
    );
  }
  return name;
}

export class Lifecycle {
  /** A deployment (or a whole model) was deleted: what other rooms keep for it can go. */
  readonly deleted = new Signal<{ deploymentId: string; modelId: string; wholeModel: boolean }>();

  constructor(private readonly deps: LifecycleDeps) {}

  async createDeployment(input: CreateDeploymentInput): Promise<CreatedDeployment> {
    const { store, artifacts, home } = this.deps;
    checkModelName(input.modelName);
    if (input.deploymentName !== undefined) checkName('deployment', input.deploymentName);
    const bytes = artifacts.get(input.bundleSha256);
    const staging = join(
      home.deployments,
      `.incoming-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    );
    try {
      // The bundle is checked — its entries, its config, its model file — before a file of it is written.
      const entries = await inspectBundle(bytes, DEFAULT_EXTRACT_LIMITS, {
        path: 'config.yaml',
        maxBytes: MAX_CONFIG_BYTES,
      });
      const configEntry = entries.find((e) => bundlePath(e.path) === 'config.yaml');
      if (configEntry && !configEntry.data) {
        checkConfigSize(configEntry.size, 'config.yaml');
        throw new PlinthError(
          'INVALID_BUNDLE',
          `config.yaml must be a file in the bundle (it is a ${configEntry.type === 'Directory' ? 'directory' : 'link'})`,
        );
      }
      const { config, warnings } = await parseConfigOffThread(
        configEntry?.data?.toString('utf8') ?? '',
        'config.yaml',
      );
      const files = new Set(bundleFiles(entries));
      findModelEntry(files, config, 'the bundle');
      warnings.push(...checkWeightsConfig(config, 'config.yaml'));
      // An impossible request is an error at push, before anything is recorded.
      const instanceType = resolveInstanceType(config.resources ?? {}, this.deps.instanceTypes);

      // Files first, under the id the record will have; the record makes them visible.
      const deploymentId = newId('d');
      const appDir = home.appDir(deploymentId);
      mkdirSync(dirname(appDir), { recursive: true });
      await extractBundle(bytes, join(staging, 'app'), DEFAULT_EXTRACT_LIMITS, entries);
      renameSync(join(staging, 'app'), appDir);
      // Two pushes racing for a new model (or the next deployment-N) both read it absent; the
      // one whose insert conflicts reads again and joins what the other made.
      const created = await retryOnConflict(() =>
        store.transaction(async (tx) => {
          const model = (await tx.getModel(input.modelName)) ?? (await tx.createModel(input.modelName));
          const existing = await tx.listDeployments({ model_id: model.id });
          const published = existing.filter((d) => !d.is_development);
          if (input.development && existing.some((d) => d.is_development)) {
            throw new PlinthError('CONFLICT', `model ${model.name} already has a development deployment`);
          }
          const name = input.development
            ? 'development'
            : (input.deploymentName ?? nextDeploymentName(published.map((d) => d.name)));
          const autoscaling = { ...DEFAULT_AUTOSCALING, ...(config.autoscaling ?? {}) };
          const deployment = await tx.createDeployment({
            id: deploymentId,
            model_id: model.id,
            name,
            status: 'BUILDING',
            is_development: input.development === true,
            bundle_sha256: input.bundleSha256,
            config: config as unknown as Record<string, unknown>,
            instance_type_name: instanceType.name,
            autoscaling_settings: input.development
              ? { ...autoscaling, min_replica: Math.min(1, autoscaling.min_replica), max_replica: 1 }
              : autoscaling,
          });
          await tx.recordEvent({
            model_id: model.id,
            deployment_id: deployment.id,
            time: deployment.created_at,
            from_status: null,
            to_status: 'BUILDING',
            reason: `pushed bundle ${input.bundleSha256.slice(0, 12)}`,
          });
          if (input.development) return { model, deployment };
          const production = await tx.getEnvironment(model.id, 'production');
          // The first published deployment takes production; so does the next one while
          // production only has a deployment that failed before it ever served.
          const serving = published.find((d) => d.id === production?.current_deployment_id);
          const neverServed = !serving || (isFailed(serving.status) && !serving.has_served);
          if (production && neverServed) {
            await tx.updateEnvironment(production.id, { current_deployment_id: deployment.id });
          }
          return { model, deployment };
        }),
      ).catch(async (err: unknown) => {
        await rm(dirname(appDir), { recursive: true, force: true });
        throw err;
      });
      this.deps.kick();
      return { ...created, warnings };
    } finally {
      // Not rmSync: a bundle of many files takes long to remove, and the server goes on meanwhile.
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Deletes a deployment that serves no environment: drains its replicas, removes its files. */
  async deleteDeployment(deployment: Deployment): Promise<void> {
    const { store } = this.deps;
    const serving = (await store.listEnvironments(deployment.model_id)).find(
      (e) => e.current_deployment_id === deployment.id,
    );
    if (serving) {
      throw new PlinthError(
        'CONFLICT',
        `${deployment.name} serves the ${serving.name} environment; promote another deployment there first`,
      );
    }
    const promoting = (await store.listPromotions({ status: 'IN_PROGRESS' })).find(
      (p) => p.to_deployment_id === deployment.id,
    );
    if (promoting) {
      throw new PlinthError(
        'CONFLICT',
        `${deployment.name} is being promoted to ${promoting.environment_name}; cancel that first`,
      );
    }
    await store.deleteDeployment(deployment.id);
    await this.deps.stopper.stopAll(deployment.id, 10_000);
    this.deleted.emit({ deploymentId: deployment.id, modelId: deployment.model_id, wholeModel: false });
    await rm(dirname(this.deps.home.appDir(deployment.id)), { recursive: true, force: true });
    await this.collectBundle(deployment.bundle_sha256);
    this.deps.kick();
  }

  /** Removes a bundle that no deployment uses any more. */
  private async collectBundle(sha: string): Promise<void> {
    const users = (await this.deps.store.listDeployments()).filter((d) => d.bundle_sha256 === sha);
    if (users.length === 0) this.deps.artifacts.remove(sha);
  }

  /** INACTIVE or SCALED_TO_ZERO → DEPLOYING (or WAKING_UP) with at least one replica. */
  async activate(
    d: Deployment,
    replicas = Math.max(1, d.autoscaling_settings.min_replica),
  ): Promise<Deployment> {
    const outcome = await this.deps.status.moveCurrent(d.id, (current) => {
      if (isInactive(current.status))
        return { to: 'DEPLOYING', reason: 'activated', patch: { desired_replicas: replicas } };
      if (canWake(current.status))
        return { to: 'WAKING_UP', reason: 'woken by a request', patch: { desired_replicas: replicas } };
      if (isFailed(current.status)) {
        throw new PlinthError(
          'CONFLICT',
          `${d.name} is ${current.status}; retry it instead of activating it`,
        );
      }
      return null;
    });
    if (outcome) return this.settled(outcome);
    const current = await this.current(d);
    if (current.desired_replicas >= replicas) return current;
    const out = await this.deps.store.updateDeployment(d.id, { desired_replicas: replicas });
    this.deps.kick();
    return out;
  }

  /** A deployment at zero replicas gets one back at once (a request or a wake call arrived). */
  async wake(
    d: Deployment,
    replicas = Math.max(1, d.autoscaling_settings.min_replica),
    reason = 'woken by a request',
  ): Promise<Deployment> {
    const outcome = await wakeFromZero(this.deps.status, d, replicas, reason);
    if (outcome.moved) this.deps.kick();
    return outcome.moved ? outcome.deployment : (outcome.current ?? d);
  }

  /**
   * Drains and stops every replica; the deployment ends INACTIVE and its URLs answer 404. `onlyIf`
   * sees the deployment as it is when the move is made: false leaves it as it is.
   */
  async deactivate(
    d: Deployment,
    reason = 'deactivated',
    onlyIf: (current: Deployment) => boolean = () => true,
  ): Promise<Deployment> {
    const outcome = await this.deps.status.moveCurrent(d.id, (current) =>
      isInactive(current.status) || !onlyIf(current)
        ? null
        : { to: 'DEACTIVATING', reason, patch: { desired_replicas: 0 } },
    );
    return outcome ? this.settled(outcome) : this.current(d);
  }

  /** Scales a deployment to zero replicas (when its status allows); it wakes on the next request. */
  async scaleToZero(d: Deployment, reason: string): Promise<void> {
    // From the status it was read in only: a decision made on what it was is not applied to what it became.
    if (!canMove(d.status, 'SCALED_TO_ZERO') || d.status === 'SCALED_TO_ZERO') return;
    const outcome = await this.deps.status.move(d, 'SCALED_TO_ZERO', reason, { desired_replicas: 0 });
    if (outcome.moved) this.deps.kick();
  }

  /**
   * A deployment no environment needs any more (a cancelled promotion's candidate, the one a
   * promotion replaced) goes to zero, whatever it is doing now — still building included.
   */
  /**
   * Sets a live deployment's replicas to exactly `replicas` (a rolling deploy's steps): zero
   * retires it, more wakes or activates it, fewer lowers its desired count (stops drain first).
   */
  async resize(d: Deployment, replicas: number, reason: string): Promise<void> {
    if (replicas === 0) return this.retire(d, reason);
    const current = await this.activate(d, replicas);
    if (current.desired_replicas <= replicas) return;
    await this.deps.store.updateDeployment(d.id, { desired_replicas: replicas });
    this.deps.kick();
  }

  async retire(d: Deployment, reason: string): Promise<void> {
    const outcome = await this.deps.status.moveCurrent(d.id, (current) =>
      current.status !== 'UPDATING' &&
      current.status !== 'SCALED_TO_ZERO' &&
      canMove(current.status, 'SCALED_TO_ZERO')
        ? { to: 'SCALED_TO_ZERO', reason, patch: { desired_replicas: 0 } }
        : null,
    );
    if (outcome?.moved) this.deps.kick();
  }

  /** Builds or starts a failed deployment again. */
  async retry(d: Deployment): Promise<Deployment> {
    this.deps.resetFailures(d.id);
    const outcome = await this.deps.status.moveCurrent(d.id, (current) => {
      const to = retryTarget(current.status);
      if (!to) {
        throw new PlinthError(
          'CONFLICT',
          `${d.name} is ${current.status}; only a failed deployment can be retried`,
        );
      }
      const desired = to === 'BUILDING' ? 0 : Math.max(1, current.autoscaling_settings.min_replica);
      return { to, reason: 'retried', patch: { desired_replicas: desired } };
    });
    return outcome ? this.settled(outcome) : this.current(d);
  }

  /** The deployment after a move: kicks the control loops when it moved; CONFLICT when refused. */
  private settled(outcome: MoveOutcome): Deployment {
    if (outcome.moved) {
      this.deps.kick();
      return outcome.deployment;
    }
    if (!outcome.current) throw new PlinthError('DEPLOYMENT_NOT_FOUND', 'the deployment was deleted');
    throw new PlinthError(
      'CONFLICT',
      `${outcome.current.name} is ${outcome.current.status} and kept changing; try again`,
    );
  }

  private async current(d: Deployment): Promise<Deployment> {
    const current = await this.deps.store.getDeployment(d.id);
    if (!current) throw new PlinthError('DEPLOYMENT_NOT_FOUND', `deployment ${d.name} was deleted`);
    return current;
  }

  /**
   * Runs the deployment on another instance type: a new revision, whose replicas the reconciler
   * starts before it stops the old ones.
   */
  async changeInstanceType(d: Deployment, instanceType: string): Promise<Deployment> {
    for (let attempt = 0; attempt <= 5; attempt++) {
      const current = await this.current(d);
      if (current.instance_type_name === instanceType) return current;
      if (current.status === 'UPDATING') {
        throw new PlinthError(
          'CONFLICT',
          `${d.name} is applying a development patch; change its instance type once it is done`,
        );
      }
      const out = await this.deps.store.revise(d.id, {
        from: current.revision,
        to: current.revision + 1,
        patch: { instance_type_name: instanceType },
      });
      if (out.revised) {
        this.deps.kick();
        return out.deployment;
      }
    }
    throw new PlinthError('CONFLICT', `${d.name} kept changing; try again`);
  }

  async rename(d: Deployment, name: string): Promise<Deployment> {
    return this.deps.store.updateDeployment(d.id, { name: checkName('deployment', name) });
  }

  async deleteModel(model: Model): Promise<void> {
    const deployments = await this.deps.store.listDeployments({ model_id: model.id });
    await this.deps.store.deleteModel(model.id);
    for (const d of deployments) {
      await this.deps.stopper.stopAll(d.id, 10_000);
      this.deleted.emit({ deploymentId: d.id, modelId: model.id, wholeModel: true });
      await rm(dirname(this.deps.home.appDir(d.id)), { recursive: true, force: true });
      await this.collectBundle(d.bundle_sha256);
    }
    this.deps.kick();
  }
}

/** `deployment-N`, one past the highest N in use. */
export function nextDeploymentName(existing: readonly string[]): string {
  let highest = 0;
  for (const name of existing) {
    const m = /^deployment-(\d+)$/.exec(name);
    if (m) highest = Math.max(highest, Number(m[1]));
  }
  return `deployment-${highest + 1}`;
}

/**
 * Asks for replicas for a deployment at zero (the status change a control plane acts on). A
 * gateway without control loops calls it too: the leading control plane hears of it from the store.
 * Refused (nothing written) when the deployment is not at zero, or no longer (a concurrent
 * deactivate wins over a wake that read it before).
 */
export async function wakeFromZero(
  status: StatusRecorder,
  d: Deployment,
  replicas = Math.max(1, d.autoscaling_settings.min_replica),
  reason = 'woken by a request',
): Promise<MoveOutcome> {
  if (!canWake(d.status)) return { moved: false, refusal: 'ILLEGAL', current: d };
  return status.move(d, 'WAKING_UP', reason, { desired_replicas: replicas });
}

/** Runs `work` again (twice at most) when it fails with CONFLICT: a racer's insert came first. */
async function retryOnConflict<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof PlinthError && err.code === 'CONFLICT') || attempt >= 3) throw err;
    }
  }
}

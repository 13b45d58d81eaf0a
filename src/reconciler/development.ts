// The development deployment's live reload. A patch (or a whole new bundle) is extracted into a new
// app directory and built there (the environment cache makes a code-only change cost nothing);
// then the deployment's revision is bumped, and the reconciler's plan replaces its replica new
// before old, as it does for any revision — so no request fails during a reload. This controller
// only waits to see the new revision's replica ready (the patch is applied) or failing (the
// revision is reverted and the previous code keeps serving; the error goes back to the caller).
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore } from '../bundle/artifact-store.ts';
import { extractBundle } from '../bundle/extract.ts';
import { packDirectory } from '../bundle/pack.ts';
import { applyPatch } from '../bundle/patch.ts';
import type { BundlePatch } from '../bundle/patch.ts';
import { buildApp } from '../builder/build-app.ts';
import type { WeightsStep } from '../builder/build-app.ts';
import { currentBuild } from '../builder/build-record.ts';
import { parseConfigOffThread } from '../config/parse-off-thread.ts';
import { checkConfigSize } from '../config/parse.ts';
import type { ModelConfig } from '../config/schema.ts';
import { systemClock } from '../domain/clock.ts';
import type { Clock } from '../domain/clock.ts';
import { canMove } from '../domain/deployment-status.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import { PlinthError } from '../domain/errors.ts';
import type { BuildRecord, Deployment } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';
import type { LogSink } from '../observability/log-sink.ts';
import type { ReplicaExit, ReplicaHandle, RuntimeBackend } from '../runtime/backend.ts';
import type { StatusRecorder } from '../store/status-recorder.ts';
import type { Store } from '../store/store.ts';
import { unpatchableChanges } from './patch-scope.ts';

/** What live reload reads and writes of a development deployment. */
export type DevelopmentStore = Pick<
  Store,
  'getDeployment' | 'listDeployments' | 'revise' | 'updateDeployment'
>;

export interface DevelopmentDeps {
  store: DevelopmentStore;
  artifacts: ArtifactStore;
  home: PlinthHome;
  /** Where the new revision's replica is watched (the reconciler starts it). */
  backend: Pick<RuntimeBackend, 'watch' | 'list'>;
  status: StatusRecorder;
  logs: LogSink;
  /** The reconciler: asked for a pass now (a new revision to roll out); tells when a replica cannot be placed. */
  reconciler: {
    kick(): void;
    onPending(listener: (deploymentId: string, reason: string) => void): () => void;
  };
  /** Downloads a config's weights and data into a new revision's app dir (from the shared cache). */
  weights?: WeightsStep;
  /** Whether this control plane leads (only the leader sees the replicas a patch starts). */
  isLeading?: () => boolean;
  /** Hides secret values in what goes back to the caller. */
  mask?: (text: string) => string;
  /** How long the new revision's replica may take to load. */
  loadTimeoutMs?: number;
  clock?: Clock;
}

export interface ReloadResult {
  deployment: Deployment;
  bundle_sha256: string;
  /** False when the patch changed nothing the bundle holds. */
  changed: boolean;
  replica_id: string | null;
  took_ms: number;
}

export class DevelopmentController {
  private readonly turns = new Map<string, Promise<unknown>>();
  private readonly awakeUntil = new Map<string, number>();
  private readonly clock: Clock;

  constructor(private readonly deps: DevelopmentDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  private now(): number {
    return this.clock.now();
  }

  /** Applies a patch against the bundle the deployment holds (PATCH_CONFLICT when it holds another). */
  patch(d: Deployment, patch: BundlePatch): Promise<ReloadResult> {
    return this.inTurn(d.id, async (current) => {
      if (current.bundle_sha256 !== patch.base_sha256) {
        throw new PlinthError(
          'PATCH_CONFLICT',
          `the development deployment holds bundle ${current.bundle_sha256.slice(0, 12)}, not ${patch.base_sha256.slice(0, 12)}: send the whole directory`,
          { bundle_sha256: current.bundle_sha256 },
        );
      }
      return this.reload(current, async (appDir) => {
        await extractBundle(this.deps.artifacts.get(current.bundle_sha256), appDir);
        applyPatch(appDir, patch);
      });
    });
  }

  /** Replaces the whole app with an uploaded bundle (a full sync). */
  replace(d: Deployment, bundleSha256: string): Promise<ReloadResult> {
    const bytes = this.deps.artifacts.get(bundleSha256);
    return this.inTurn(d.id, (current) =>
      this.reload(current, async (appDir) => {
        await extractBundle(bytes, appDir);
      }),
    );
  }

  /**
   * A patch cut off by a server restart left its deployment UPDATING: the revision it replaced
   * (its stored rollback) comes back, and the reconciler runs it.
   */
  async recover(): Promise<void> {
    for (const d of await this.deps.store.listDeployments({ statuses: ['UPDATING'] })) {
      // Whether the new code would have loaded is unknown: what served before comes back.
      if (d.rollback) await this.revert(d.id, d.revision);
      await this.deps.status.move(
        d,
        'DEPLOYING',
        'the server restarted while a patch applied; the previous code is back',
        {
          desired_replicas: 1,
        },
      );
    }
  }

  /** Keeps a development deployment at one replica until then (a watch is running). */
  keepAwake(deploymentId: string, seconds: number): number {
    const until = this.now() + seconds * 1000;
    // Leases no watch renews any more (it stopped, or its deployment went) are not kept.
    for (const [id, at] of this.awakeUntil) if (at <= this.now()) this.awakeUntil.delete(id);
    this.awakeUntil.set(deploymentId, until);
    return until;
  }

  /** Forgets a deleted deployment. */
  forget(deploymentId: string): void {
    this.awakeUntil.delete(deploymentId);
  }

  /** The deployments with an awake lease (for tests: nothing only grows). */
  awakeLeases(): string[] {
    return [...this.awakeUntil.keys()];
  }

  isKeptAwake(deploymentId: string): boolean {
    const until = this.awakeUntil.get(deploymentId);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.awakeUntil.delete(deploymentId); // the watch stopped renewing it
    return false;
  }

  /** One reload at a time per deployment; each sees the deployment as the previous one left it. */
  private inTurn<T>(deploymentId: string, work: (d: Deployment) => Promise<T>): Promise<T> {
    const previous = this.turns.get(deploymentId) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const d = await this.deps.store.getDeployment(deploymentId);
        if (!d) throw new PlinthError('DEPLOYMENT_NOT_FOUND', `deployment ${deploymentId} was deleted`);
        return work(d);
      });
    this.turns.set(deploymentId, next);
    const forget = (): void => {
      if (this.turns.get(deploymentId) === next) this.turns.delete(deploymentId);
    };
    next.then(forget, forget);
    return next;
  }

  private async reload(d: Deployment, fill: (appDir: string) => Promise<void>): Promise<ReloadResult> {
    const started = this.now();
    if (this.deps.isLeading && !this.deps.isLeading()) {
      throw new PlinthError(
        'CONFLICT',
        'this control plane follows another: live reload talks to the leading one (its URL is in the start-up lines)',
      );
    }
    if (!canMove(d.status, 'UPDATING')) {
      throw new PlinthError(
        'CONFLICT',
        `the development deployment is ${d.status}; wait for it or activate it`,
      );
    }
    // Revision numbers only go up, even past one a failed patch left behind.
    const revision = Math.max(d.revision, d.last_revision) + 1;
    const revisions = join(this.deps.home.deployments, d.id, 'revisions');
    await this.removeUnusedRevisions(d, revisions);
    const dir = join(revisions, `${revision}-${randomBytes(3).toString('hex')}`);
    const appDir = join(dir, 'app');
    let keepDir = false;
    try {
      await fill(appDir);
      const config = await readConfig(appDir);
      this.checkPatchable(d, config);
      const packed = await packDirectory(appDir);
      if (packed.sha256 === d.bundle_sha256 && currentBuild(d, this.deps.home)) {
        return {
          deployment: d,
          bundle_sha256: d.bundle_sha256,
          changed: false,
          replica_id: null,
          took_ms: 0,
        };
      }
      this.deps.artifacts.put(packed.sha256, packed.bytes);
      const updating = await this.deps.status.move(d, 'UPDATING', 'applying a patch');
      if (!updating.moved) {
        await this.removeBundleIfUnused(packed.sha256);
        throw new PlinthError(
          'CONFLICT',
          `the development deployment is ${updating.current?.status ?? 'gone'} now; try again`,
        );
      }
      let bumped = false;
      try {
        const build = await this.build(d, appDir, config);
        // Subscribed before the bump: the replica may be ready before a later look.
        const outcome = this.outcomeOf(d.id, revision);
        try {
          bumped = await this.bump(d, revision, { bundle_sha256: packed.sha256, config, build });
          const result = await outcome.settled;
          if (!('id' in result)) {
            const output = result.output ? `\n${result.output}` : '';
            throw new PlinthError(
              'PATCH_FAILED',
              this.mask(`the new code did not load: ${result.reason}${output}`),
            );
          }
          keepDir = true;
          await this.removeBundleIfUnused(d.bundle_sha256);
          const done = await this.deps.status.move(
            { id: d.id, status: 'UPDATING' },
            'ACTIVE',
            'patch applied',
            {
              has_served: true,
              rollback: null,
            },
          );
          if (!done.moved) await this.deps.store.updateDeployment(d.id, { rollback: null });
          this.log(d, 'INFO', `patch applied: replica ${result.id} serves revision ${revision}`);
          return {
            deployment: done.moved ? done.deployment : (done.current ?? d),
            bundle_sha256: packed.sha256,
            changed: true,
            replica_id: result.id,
            took_ms: this.now() - started,
          };
        } finally {
          outcome.cancel();
        }
      } catch (err) {
        // Back to what served before; the reconciler then stops the failed revision's replicas.
        if (bumped && !(await this.revert(d.id, revision))) {
          keepDir = true; // another change moved the deployment on: its directory may be in use
          this.log(
            d,
            'ERROR',
            `patch to revision ${revision} failed and was not reverted: the deployment changed meanwhile`,
          );
        }
        await this.deps.status.move(
          { id: d.id, status: 'UPDATING' },
          backTo(d.status),
          'patch failed; the previous code keeps serving',
        );
        await this.removeBundleIfUnused(packed.sha256);
        throw err;
      }
    } finally {
      if (!keepDir) await rm(dir, { recursive: true, force: true });
    }
  }

  /** A patch may change code and requirements, not what needs a new deployment. */
  private checkPatchable(d: Deployment, config: ModelConfig): void {
    const blocked = unpatchableChanges(d.config as unknown as ModelConfig, config);
    if (blocked.length > 0) {
      throw new PlinthError(
        'NEEDS_PUSH',
        `this change cannot be live-patched (${blocked.join(', ')}): run \`plinth push\` to make a new deployment`,
        { fields: blocked },
      );
    }
  }

  /** Builds the new app directory (the environment cache makes a code-only change cost nothing). */
  private build(d: Deployment, appDir: string, config: ModelConfig): Promise<BuildRecord> {
    const target = { model_id: d.model_id, deployment_id: d.id };
    return buildApp(
      appDir,
      config,
      this.deps.home,
      (line, level = 'INFO') => this.deps.logs.write(target, 'build', level, line),
      this.deps.weights,
    ).catch((err: Error) => {
      this.deps.logs.write(target, 'build', 'ERROR', `build failed: ${err.message}`);
      throw err instanceof PlinthError
        ? err
        : new PlinthError('PATCH_FAILED', `the new code did not build: ${err.message}`);
    });
  }

  /**
   * Bumps the deployment to the patch's revision, keeping what it ran as its rollback; the
   * reconciler then replaces its replica, new before old.
   */
  private async bump(
    d: Deployment,
    revision: number,
    next: { bundle_sha256: string; config: ModelConfig; build: BuildRecord },
  ): Promise<boolean> {
    const bumped = await this.deps.store.revise(d.id, {
      from: d.revision,
      to: revision,
      patch: {
        bundle_sha256: next.bundle_sha256,
        config: next.config as unknown as Record<string, unknown>,
        build: next.build,
        desired_replicas: Math.max(1, d.desired_replicas),
        last_revision: revision,
        rollback: {
          revision: d.revision,
          bundle_sha256: d.bundle_sha256,
          config: d.config,
          build: d.build,
          desired_replicas: d.desired_replicas,
        },
      },
    });
    if (!bumped.revised)
      throw new PlinthError('CONFLICT', 'the development deployment changed meanwhile; try again');
    this.deps.reconciler.kick();
    return true;
  }

  /** Puts back what the deployment ran before `revision` (its stored rollback); false when it moved on. */
  private async revert(deploymentId: string, revision: number): Promise<boolean> {
    const current = await this.deps.store.getDeployment(deploymentId);
    const back = current?.rollback;
    if (!current || !back || current.revision !== revision) return false;
    const out = await this.deps.store.revise(deploymentId, {
      from: revision,
      to: back.revision,
      patch: {
        bundle_sha256: back.bundle_sha256,
        config: back.config,
        build: back.build,
        desired_replicas: back.desired_replicas,
        rollback: null,
      },
    });
    this.deps.reconciler.kick();
    return out.revised;
  }

  private mask(text: string): string {
    return (this.deps.mask ?? ((t: string) => t))(text);
  }

  /** The first replica of `revision` to become ready, or the exit of one that never was (or a timeout). */
  private outcomeOf(
    deploymentId: string,
    revision: number,
  ): { settled: Promise<ReplicaHandle | ReplicaExit>; cancel: () => void } {
    let settle!: (outcome: ReplicaHandle | ReplicaExit) => void;
    const settled = new Promise<ReplicaHandle | ReplicaExit>((resolve) => (settle = resolve));
    const ours = (r: ReplicaHandle): boolean => r.deploymentId === deploymentId && r.revision === revision;
    const unwatch = this.deps.backend.watch((e) => {
      if (!ours(e.replica)) return;
      if (e.type === 'ready') settle(e.replica);
      // Expected or not (a deactivate stops it too): it will not serve this patch.
      if (e.type === 'exited' && !e.exit.wasReady) settle(e.exit);
    });
    // No room for it beside the replica that serves (a GPU it holds): the patch fails, as it says.
    const unpend = this.deps.reconciler.onPending((id, reason) => {
      if (id === deploymentId) {
        settle({
          code: null,
          signal: null,
          expected: false,
          reason: `waiting for capacity: ${reason}`,
          wasReady: false,
        });
      }
    });
    // Moved out of UPDATING by someone else (deactivated, failed for a secret): the patch is over.
    const unstatus = this.deps.status.onChange((d) => {
      if (d.id !== deploymentId || d.status === 'UPDATING') return;
      const why = d.status_reason ? `: ${d.status_reason}` : '';
      settle({
        code: null,
        signal: null,
        expected: false,
        reason: `the deployment became ${d.status}${why}`,
        wasReady: false,
      });
    });
    const ready = this.deps.backend.list(deploymentId).find((r) => ours(r) && r.phase === 'READY');
    if (ready) settle(ready);
    const timeoutMs = this.deps.loadTimeoutMs ?? 600_000;
    const cancelTimer = this.clock.after(timeoutMs, () =>
      settle({
        code: null,
        signal: null,
        expected: false,
        reason: `it was not ready within ${Math.round(timeoutMs / 1000)} s`,
        wasReady: false,
      }),
    );
    return {
      settled,
      cancel: () => {
        cancelTimer();
        unwatch();
        unpend();
        unstatus();
      },
    };
  }

  /** Revision directories that neither the current build nor a live replica uses. */
  private async removeUnusedRevisions(d: Deployment, revisions: string): Promise<void> {
    if (!existsSync(revisions)) return;
    const inUse = new Set([d.revision, ...this.deps.backend.list(d.id).map((r) => r.revision)]);
    const current = currentBuild(d, this.deps.home)?.appDir;
    for (const name of readdirSync(revisions)) {
      const dir = join(revisions, name);
      if (inUse.has(Number(name.split('-')[0])) || current === join(dir, 'app')) continue;
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Each patch stores a bundle; the ones no deployment holds any more are not kept. */
  private async removeBundleIfUnused(sha: string): Promise<void> {
    const users = (await this.deps.store.listDeployments()).filter((x) => x.bundle_sha256 === sha);
    if (users.length === 0) this.deps.artifacts.remove(sha);
  }

  private log(d: Deployment, level: 'INFO' | 'ERROR', message: string): void {
    this.deps.logs.write({ model_id: d.model_id, deployment_id: d.id }, 'platform', level, message);
  }
}

/** Where a failed patch leaves the deployment: the status it started from. */
function backTo(status: DeploymentStatus): DeploymentStatus {
  return status === 'UPDATING' ? 'DEPLOYING' : status;
}

/** The config.yaml of an extracted app: a regular file no bigger than the cap, read without blocking. */
async function readConfig(appDir: string): Promise<ModelConfig> {
  const file = join(appDir, 'config.yaml');
  let text = '';
  const stat = await lstat(file).catch(() => null);
  if (stat) {
    if (!stat.isFile())
      throw new PlinthError('INVALID_CONFIG', 'config.yaml: must be a file, not a directory or a link');
    checkConfigSize(stat.size, 'config.yaml');
    text = await readFile(file, 'utf8');
  }
  return (await parseConfigOffThread(text, 'config.yaml')).config;
}

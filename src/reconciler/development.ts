// The development deployment's live reload. A patch (or a whole new bundle) becomes a new
// revision of the app directory: built (the environment cache makes a code-only change cost
// nothing), started as a trial replica beside the one serving, and swapped in once it is ready
// while the old one drains — so no request fails during a reload. A revision that does not build
// or load is thrown away and the previous code keeps serving; the error goes back to the caller.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ArtifactStore } from '../bundle/artifact-store.ts';
import { extractBundle } from '../bundle/extract.ts';
import { packDirectory } from '../bundle/pack.ts';
import { applyPatch } from '../bundle/patch.ts';
import type { BundlePatch } from '../bundle/patch.ts';
import { buildApp } from '../builder/build-app.ts';
import { readBuildRecord, writeBuildRecord } from '../builder/build-record.ts';
import type { BuildRecord } from '../builder/build-record.ts';
import { parseConfig } from '../config/parse.ts';
import type { ModelConfig } from '../config/schema.ts';
import { canMove } from '../domain/deployment-status.ts';
import { PlinthError } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import type { Deployment } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';
import type { LogSink } from '../observability/log-sink.ts';
import type { ReplicaExit, ReplicaHandle, RuntimeBackend } from '../runtime/backend.ts';
import type { StatusRecorder } from '../store/status-recorder.ts';
import type { Store } from '../store/store.ts';
import { declaredSecrets, instanceTypeOf, missingSecretsReason, replicaSpec } from './replica-spec.ts';
import type { InstanceType } from '../domain/instance-types.ts';
import { unpatchableChanges } from './patch-scope.ts';

/** What live reload reads and writes of a development deployment. */
export type DevelopmentStore = Pick<Store, 'getDeployment' | 'listDeployments' | 'updateDeployment'>;

export interface DevelopmentDeps {
  store: DevelopmentStore;
  artifacts: ArtifactStore;
  home: PlinthHome;
  backend: RuntimeBackend;
  status: StatusRecorder;
  logs: LogSink;
  /** Tells the reconciler that a replica is a trial (its failure is the patch's), or now its own. */
  trial: (replicaId: string) => void;
  adopt: (replicaId: string) => void;
  instanceTypes: readonly InstanceType[];
  secrets: (declared: Record<string, string | null>) => { values: Record<string, string>; missing: string[] };
  /** Hides secret values in what goes back to the caller. */
  mask?: (text: string) => string;
  /** How long a trial replica may take to load. */
  loadTimeoutMs?: number;
  drainMs?: number;
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

  constructor(private readonly deps: DevelopmentDeps) {}

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
   * A patch cut off by a server restart left its deployment UPDATING: its build record still
   * names the last good revision, so it starts again from that.
   */
  async recover(): Promise<void> {
    for (const d of await this.deps.store.listDeployments({ statuses: ['UPDATING'] })) {
      await this.deps.status.move(d, 'DEPLOYING', 'the server restarted while a patch applied', {
        desired_replicas: 1,
      });
    }
  }

  /** Keeps a development deployment at one replica until then (a watch is running). */
  keepAwake(deploymentId: string, seconds: number): number {
    const until = Date.now() + seconds * 1000;
    this.awakeUntil.set(deploymentId, until);
    return until;
  }

  isKeptAwake(deploymentId: string): boolean {
    return (this.awakeUntil.get(deploymentId) ?? 0) > Date.now();
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
    const started = Date.now();
    if (!canMove(d.status, 'UPDATING')) {
      throw new PlinthError(
        'CONFLICT',
        `the development deployment is ${d.status}; wait for it or activate it`,
      );
    }
    const revisions = join(this.deps.home.deployments, d.id, 'revisions');
    const revision = join(revisions, `${Date.now()}-${randomBytes(3).toString('hex')}`);
    const appDir = join(revision, 'app');
    let swapped = false;
    try {
      await fill(appDir);
      const config = readConfig(appDir);
      const blocked = unpatchableChanges(d.config as unknown as ModelConfig, config);
      if (blocked.length > 0) {
        throw new PlinthError(
          'NEEDS_PUSH',
          `this change cannot be live-patched (${blocked.join(', ')}): run \`plinth push\` to make a new deployment`,
          { fields: blocked },
        );
      }
      const packed = await packDirectory(appDir);
      if (packed.sha256 === d.bundle_sha256 && readBuildRecord(this.deps.home.buildRecord(d.id))) {
        return {
          deployment: d,
          bundle_sha256: d.bundle_sha256,
          changed: false,
          replica_id: null,
          took_ms: 0,
        };
      }
      this.deps.artifacts.put(packed.sha256, packed.bytes);
      const before = d.status;
      const updating = await this.deps.status.move(d, 'UPDATING', 'applying a patch');
      if (!updating.moved) {
        throw new PlinthError(
          'CONFLICT',
          `the development deployment is ${updating.current?.status ?? 'gone'} now; try again`,
        );
      }
      try {
        const target = { model_id: d.model_id, deployment_id: d.id };
        const build = await buildApp(appDir, config, this.deps.home, (line) =>
          this.deps.logs.write(target, 'build', 'INFO', line),
        ).catch((err: Error) => {
          this.deps.logs.write(target, 'build', 'ERROR', `build failed: ${err.message}`);
          throw err instanceof PlinthError
            ? err
            : new PlinthError('PATCH_FAILED', `the new code did not build: ${err.message}`);
        });
        const next: Deployment = { ...d, config: config as unknown as Record<string, unknown> };
        const replica = await this.tryReplica(next, build);
        const old = this.deps.backend.list(d.id).filter((r) => r.id !== replica.id);
        writeBuildRecord(this.deps.home.buildRecord(d.id), build);
        await this.deps.store.updateDeployment(d.id, { bundle_sha256: packed.sha256, config: next.config });
        swapped = true;
        await this.removeBundleIfUnused(d.bundle_sha256);
        const applied = await this.deps.status.move(
          { id: d.id, status: 'UPDATING' },
          'ACTIVE',
          'patch applied',
          {
            desired_replicas: 1,
            has_served: true,
          },
        );
        const after = applied.moved ? applied.deployment : (applied.current ?? d);
        this.deps.logs.write(
          target,
          'platform',
          'INFO',
          `patch applied: replica ${replica.id} serves the new code`,
        );
        void Promise.all(
          old.map((r) => this.deps.backend.stop(r.id, { drainMs: this.deps.drainMs ?? 30_000 })),
        ).then(() => this.removeRevisionsBut(revisions, revision));
        return {
          deployment: after,
          bundle_sha256: packed.sha256,
          changed: true,
          replica_id: replica.id,
          took_ms: Date.now() - started,
        };
      } finally {
        if (!swapped) {
          await this.deps.status.move(
            { id: d.id, status: 'UPDATING' },
            before,
            'patch failed; the previous code keeps serving',
          );
          await this.removeBundleIfUnused(packed.sha256);
        }
      }
    } finally {
      if (!swapped) rmSync(revision, { recursive: true, force: true });
    }
  }

  /** Starts the new code beside the old and waits until it is ready, or says why it is not. */
  private async tryReplica(d: Deployment, build: BuildRecord): Promise<ReplicaHandle> {
    const id = newId('r');
    this.deps.trial(id);
    let settle!: (outcome: ReplicaHandle | ReplicaExit) => void;
    const outcome = new Promise<ReplicaHandle | ReplicaExit>((resolve) => (settle = resolve));
    const unwatch = this.deps.backend.watch((e) => {
      if (e.replica.id !== id) return;
      if (e.type === 'ready') settle(e.replica);
      if (e.type === 'exited') settle(e.exit);
    });
    const timeoutMs = this.deps.loadTimeoutMs ?? 600_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void this.deps.backend.stop(id, { drainMs: 0 });
    }, timeoutMs);
    try {
      const secrets = this.deps.secrets(declaredSecrets(d));
      if (secrets.missing.length > 0)
        throw new PlinthError('PATCH_FAILED', missingSecretsReason(secrets.missing));
      await this.deps.backend.start(
        replicaSpec(d, build, this.deps.home, instanceTypeOf(d, this.deps.instanceTypes), secrets.values, id),
      );
      this.deps.logs.write(
        { model_id: d.model_id, deployment_id: d.id, replica_id: id },
        'platform',
        'INFO',
        `replica ${id} starting with the new code`,
      );
      const result = await outcome;
      if ('id' in result) {
        this.deps.adopt(id);
        return result;
      }
      const reason = timedOut ? `it was not ready within ${Math.round(timeoutMs / 1000)} s` : result.reason;
      const output = result.output ? `\n${result.output}` : '';
      const mask = this.deps.mask ?? ((t: string) => t);
      throw new PlinthError('PATCH_FAILED', mask(`the new code did not load: ${reason}${output}`));
    } finally {
      clearTimeout(timer);
      unwatch();
    }
  }

  /** Each patch stores a bundle; the ones no deployment holds any more are not kept. */
  private async removeBundleIfUnused(sha: string): Promise<void> {
    const users = (await this.deps.store.listDeployments()).filter((x) => x.bundle_sha256 === sha);
    if (users.length === 0) this.deps.artifacts.remove(sha);
  }

  private removeRevisionsBut(revisions: string, keep: string): void {
    if (!existsSync(revisions)) return;
    for (const name of readdirSync(revisions)) {
      const dir = join(revisions, name);
      if (dir !== keep) rmSync(dir, { recursive: true, force: true });
    }
  }
}

function readConfig(appDir: string): ModelConfig {
  const file = join(appDir, 'config.yaml');
  return parseConfig(existsSync(file) ? readFileSync(file, 'utf8') : '', 'config.yaml').config;
}

// Builds deployments in BUILDING: prepares the model's environment (cached), records the result,
// then hands the deployment to the reconciler (DEPLOYING) or fails it (BUILD_FAILED) with the
// installer's own message. Build output goes to the deployment's logs.
import type { ModelConfig } from '../config/schema.ts';
import { systemClock } from '../domain/clock.ts';
import type { Clock } from '../domain/clock.ts';
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import type { Deployment, LogLevel } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';
import type { LogSink } from '../observability/log-sink.ts';
import type { StatusRecorder } from '../store/status-recorder.ts';
import type { Store } from '../store/store.ts';
import { buildApp } from './build-app.ts';
import type { WeightsStep } from './build-app.ts';
import { currentBuild } from './build-record.ts';
import { canMove } from '../domain/deployment-status.ts';
import { BuildError } from './node-environment.ts';

/** Where the builder finds deployments to build. */
export type BuildQueue = Pick<Store, 'listDeployments' | 'getDeployment' | 'updateDeployment'>;

export interface BuildControllerDeps {
  store: BuildQueue;
  home: PlinthHome;
  status: StatusRecorder;
  logs: LogSink;
  /** A deployment was built: reconcile now. */
  onBuilt: () => void;
  clock?: Clock;
  /** Where failed passes are counted (the control-loop metrics). */
  health?: LoopHealth;
  /** Downloads the weights and data a config asks for (none: such a config fails to build). */
  weights?: WeightsStep;
}

/** What a build failing for want of disk space says, whatever tool wrote it (esbuild, pip, npm). */
const DISK_FULL = /ENOSPC|no space left on device/i;

export class BuildController {
  private readonly running = new Set<string>();
  private loop: ControlLoop | null = null;
  private readonly store: BuildQueue;
  private readonly home: PlinthHome;
  private readonly status: StatusRecorder;
  private readonly logs: LogSink;

  constructor(private readonly deps: BuildControllerDeps) {
    ({ store: this.store, home: this.home, status: this.status, logs: this.logs } = deps);
  }

  /** Looks for deployments to build every `intervalMs`, and now; a failed look is retried. */
  start(intervalMs: number): void {
    this.loop = new ControlLoop(() => this.pass(), {
      name: 'builder',
      intervalMs,
      clock: this.deps.clock ?? systemClock,
      health: this.deps.health,
    });
    this.loop.start();
  }

  /** Looks now (a push arrived); never rejects. */
  kick(): void {
    void this.loop?.kick();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }

  /** Starts a build for every deployment in BUILDING that is not already being built. */
  async pass(): Promise<void> {
    // BUILDING, and one taken to zero before its build was done (a cancelled promotion's candidate):
    // only those with no build in the store are read, not every deployment at zero.
    const [started, unbuilt] = await Promise.all([
      this.store.listDeployments({ statuses: ['BUILDING'] }),
      this.store.listDeployments({ statuses: ['SCALED_TO_ZERO', 'WAKING_UP'], unbuilt: true }),
    ]);
    const building = [...started, ...unbuilt.filter((d) => !currentBuild(d, this.home))];
    for (const d of building) {
      if (this.running.has(d.id)) continue;
      this.running.add(d.id);
      void this.build(d)
        .catch((err: Error) =>
          console.error(`builder: deployment ${d.id}: ${err.message}; a later pass builds it again`),
        )
        .finally(() => this.running.delete(d.id));
    }
  }

  private async build(deployment: Deployment): Promise<void> {
    const target = { model_id: deployment.model_id, deployment_id: deployment.id };
    const log = (line: string, level: LogLevel = 'INFO'): void =>
      this.logs.write(target, 'build', level, line);
    const started = Date.now();
    let record: Awaited<ReturnType<typeof buildApp>>;
    try {
      const config = deployment.config as unknown as ModelConfig;
      record = await buildApp(this.home.appDir(deployment.id), config, this.home, log, this.deps.weights);
    } catch (err) {
      const message = err instanceof BuildError || err instanceof Error ? err.message : String(err);
      // A full disk is the machine's state, not the model's fault: the deployment stays BUILDING
      // and a later pass builds it again once there is room.
      if (DISK_FULL.test(message) || (err as NodeJS.ErrnoException).code === 'ENOSPC') {
        log(`build stopped: the disk is full (${message}); it is tried again`, 'ERROR');
        throw new Error('the disk is full');
      }
      log(`build failed: ${message}`, 'ERROR');
      await this.logs.flush();
      await this.status.moveCurrent(deployment.id, (d) =>
        (d.status === 'BUILDING' || !currentBuild(d, this.home)) && canMove(d.status, 'BUILD_FAILED')
          ? { to: 'BUILD_FAILED', reason: message }
          : null,
      );
      return;
    }
    // Recording the build can fail too (the store: a full disk, an outage). That is no build
    // failure: the deployment stays as it is and a later pass builds it again (from the cache).
    log(`build finished in ${Date.now() - started} ms`);
    await this.logs.flush();
    // Only a deployment still BUILDING moves on (one deactivated meanwhile stays as it is), with
    // the replicas its settings ask for now (a promotion may have changed them during the build).
    const built = await this.status.moveCurrent(deployment.id, (d) =>
      d.status === 'BUILDING'
        ? {
            to: 'DEPLOYING',
            reason: 'build finished',
            patch: { desired_replicas: Math.max(1, d.autoscaling_settings.min_replica), build: record },
          }
        : null,
    );
    // Deactivated (or scaled to zero) meanwhile: the build is kept all the same, for its next start.
    if (!built?.moved && (await this.store.getDeployment(deployment.id)))
      await this.store.updateDeployment(deployment.id, { build: record });
    this.deps.onBuilt();
  }
}

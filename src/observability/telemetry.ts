// The running side of metrics and logs: samples every deployment each second (its replicas'
// CPU and memory every fifth), flushes the series to the store every ten seconds, and prunes
// logs by age and count every minute. Started and stopped with the server.
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import { mayHaveReplicas } from '../domain/deployment-status.ts';
import type { Deployment } from '../domain/types.ts';
import type { RuntimeBackend } from '../runtime/backend.ts';
import type { Store } from '../store/store.ts';
import { readGpuUsage } from './gpu-usage.ts';
import type { GpuUsage } from './gpu-usage.ts';
import { registerLoopMetrics } from './loop-metrics.ts';
import { Metrics } from './metrics.ts';
import type { DeploymentSample } from './metrics.ts';
import { SeriesStore } from './series-store.ts';
import type { BucketStore } from './series-store.ts';

export interface TelemetryOptions {
  store: BucketStore & Pick<Store, 'listModels' | 'listDeployments' | 'listEnvironmentsOf' | 'pruneLogs'>;
  backend: RuntimeBackend;
  /** Requests in flight plus queued for a deployment, now. */
  concurrency: (deploymentId: string) => number;
  /** Logs older than this many days are removed (default 7). */
  logRetentionDays?: number;
  /** At most this many log records are kept (default 1,000,000). */
  logRetentionRecords?: number;
  /** Where failed flushes and prunes are counted (the control-loop metrics); also exported by `metrics`. */
  health?: LoopHealth;
}

export class Telemetry {
  readonly series: SeriesStore;
  readonly metrics: Metrics;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly loops: ControlLoop[] = [];
  private ticks = 0;
  private noNvidiaSmi = false;
  private sampling: Promise<void> = Promise.resolve();
  private reading: Promise<DeploymentSample[]> | null = null;
  private readingAwake: Promise<DeploymentSample[]> | null = null;

  constructor(private readonly options: TelemetryOptions) {
    this.series = new SeriesStore(options.store);
    this.metrics = new Metrics(
      this.series,
      () => this.snapshot(),
      () => this.awakeSnapshot(),
    );
    if (options.health) registerLoopMetrics(this.metrics.registry, options.health);
  }

  /**
   * Each deployment that may have replicas, with its model, the environments it serves,
   * concurrency and replicas (the gauges of a scrape): three store queries however many models
   * there are. Calls made while one is under way share it.
   */
  snapshot(): Promise<DeploymentSample[]> {
    this.reading ??= this.readSnapshot(false).finally(() => (this.reading = null));
    return this.reading;
  }

  /**
   * The same of the deployments that are awake or that the backend runs replicas of: what each
   * second's sample records (one at rest with nothing running records nothing; see SeriesStore).
   */
  awakeSnapshot(): Promise<DeploymentSample[]> {
    this.readingAwake ??= this.readSnapshot(true).finally(() => (this.readingAwake = null));
    return this.readingAwake;
  }

  private async readSnapshot(awakeOnly: boolean): Promise<DeploymentSample[]> {
    const { store, backend } = this.options;
    let deployments: Deployment[];
    if (awakeOnly) {
      const awake = await store.listDeployments({ awake: true });
      const read = new Set(awake.map((d) => d.id));
      const running = new Set(backend.list().map((r) => r.deploymentId));
      const resting = await store.listDeployments({ ids: [...running].filter((id) => !read.has(id)) });
      deployments = [...awake, ...resting];
    } else deployments = await store.listDeployments();
    deployments = deployments.filter((d) => mayHaveReplicas(d.status));
    const modelIds = awakeOnly ? [...new Set(deployments.map((d) => d.model_id))] : undefined;
    const [models, environments] = await Promise.all([
      store.listModels({ ids: modelIds }),
      store.listEnvironmentsOf(modelIds),
    ]);
    const byId = new Map(models.map((m) => [m.id, m]));
    const serving = new Map<string, string[]>();
    for (const env of environments) {
      if (!env.current_deployment_id) continue;
      serving.set(env.current_deployment_id, [...(serving.get(env.current_deployment_id) ?? []), env.name]);
    }
    return deployments.flatMap((d) => {
      const model = byId.get(d.model_id);
      if (!model) return [];
      return [
        {
          model,
          deployment: d,
          environments: serving.get(d.id) ?? [],
          concurrency: this.options.concurrency(d.id),
          replicas: backend
            .list(d.id)
            .map((r) => ({ phase: r.phase, instanceType: r.instanceType, pid: r.pid ?? null, gpus: r.gpus })),
        },
      ];
    });
  }

  start(): void {
    this.timers.push(
      setInterval(() => {
        this.ticks++;
        const withUsage = this.ticks % 5 === 0;
        this.sampling = this.sampling
          .then(async () => {
            const startedMs = performance.now();
            await this.metrics.sampleSecond(withUsage, withUsage ? await this.gpuUsage() : null);
            this.options.health?.timed('metric-sampling', (performance.now() - startedMs) / 1000);
          })
          .catch((err: Error) => console.error(`metrics: sampling failed: ${err.message}`));
      }, 1000),
    );
    for (const t of this.timers) t.unref();
    const health = this.options.health;
    this.loops.push(
      new ControlLoop(() => this.series.flush(), { name: 'metric-series', intervalMs: 10_000, health }),
      new ControlLoop(() => this.prune(), { name: 'log-retention', intervalMs: 60_000, health }),
    );
    for (const loop of this.loops) loop.start();
  }

  /** GPU use from nvidia-smi, only while some replica holds a GPU (and only if it answers). */
  private async gpuUsage(): Promise<Map<number, GpuUsage> | null> {
    if (this.noNvidiaSmi || !this.options.backend.list().some((r) => r.gpus.length > 0)) return null;
    const usage = await readGpuUsage();
    if (!usage) this.noNvidiaSmi = true;
    return usage;
  }

  async flush(): Promise<void> {
    await this.series
      .flush()
      .catch((err: Error) => console.error(`metrics: could not store series: ${err.message}`));
  }

  /** Removes logs past their retention (days, then count). Rejects when the store fails. */
  private async prune(): Promise<void> {
    const days = this.options.logRetentionDays ?? 7;
    await this.options.store.pruneLogs({
      before: new Date(Date.now() - days * 86_400_000).toISOString(),
      keep: this.options.logRetentionRecords ?? 1_000_000,
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await Promise.all(this.loops.map((loop) => loop.stop()));
    await this.sampling;
    await this.flush();
  }
}

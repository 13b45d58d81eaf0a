// What the gateway and the runtime report, recorded twice: as Prometheus metrics (the names and
// labels of DESIGN.md §5, served at /metrics) and into the series store that the API and the
// dashboard read. Every second it samples each deployment's concurrency, replicas and
// replica-seconds; every few seconds its replicas' CPU and memory.
import { Counter, Gauge, Registry } from 'prom-client';
import type { Deployment, Model, RequestMeasure } from '../domain/types.ts';
import type { GpuUsage } from './gpu-usage.ts';
import { ProcessUsage } from './process-usage.ts';
import { RequestFamilies } from './request-families.ts';
import { LATENCY_BOUNDS } from './series.ts';
import { deploymentScope, environmentScope } from './series-store.ts';
import type { SeriesStore } from './series-store.ts';

const SIZE_BUCKETS = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864];

/** One deployment's state for a sample: what the gauges show and the series record. */
export interface DeploymentSample {
  model: Model;
  deployment: Deployment;
  environments: string[];
  concurrency: number;
  replicas: { phase: string; instanceType: string; pid: number | null; gpus: number[] }[];
}

type Labels = Record<'model_id' | 'model_name' | 'deployment_id' | 'environment', string>;

function labelsOf(model: Model, d: Deployment, environment: string | null): Labels {
  return { model_id: model.id, model_name: model.name, deployment_id: d.id, environment: environment ?? '' };
}

export class Metrics {
  readonly registry = new Registry();
  private readonly usage = new ProcessUsage();
  private readonly requests: RequestFamilies;
  private readonly coldStarts: Counter;
  private readonly concurrent: Gauge;
  private readonly active: Gauge;
  private readonly starting: Gauge;

  constructor(
    private readonly series: SeriesStore,
    /** Each deployment's state now (for the gauges at scrape time). */
    private readonly snapshot: () => Promise<DeploymentSample[]>,
    /** What each second samples: the deployments not at rest (those are left out; see SeriesStore). */
    private readonly sampled: () => Promise<DeploymentSample[]> = snapshot,
  ) {
    const labelNames = ['model_id', 'model_name', 'deployment_id', 'environment'] as const;
    const registers = [this.registry];
    this.requests = new RequestFamilies(
      this.registry,
      { name: 'plinth_inference_requests_total', help: 'Inference requests answered, by status code.' },
      [
        {
          name: 'plinth_end_to_end_response_time_seconds',
          help: 'Time from a request arriving at the gateway to its last response byte.',
          bounds: LATENCY_BOUNDS,
          pick: (v) => v.e2eS,
        },
        {
          name: 'plinth_time_to_first_byte_seconds',
          help: 'Time from a request arriving at the gateway to the first response byte.',
          bounds: LATENCY_BOUNDS,
          pick: (v) => v.ttfbS,
        },
        {
          name: 'plinth_queue_time_seconds',
          help: 'Time a request waited for a replica slot.',
          bounds: LATENCY_BOUNDS,
          pick: (v) => v.queueS,
        },
        {
          name: 'plinth_request_size_bytes',
          help: 'Request body size.',
          bounds: SIZE_BUCKETS,
          pick: (v) => v.requestBytes,
        },
        {
          name: 'plinth_response_size_bytes',
          help: 'Response body size.',
          bounds: SIZE_BUCKETS,
          pick: (v) => v.responseBytes,
        },
      ],
    );
    this.coldStarts = new Counter({
      name: 'plinth_cold_starts_total',
      help: 'Requests that found a deployment at zero replicas and woke it.',
      labelNames,
      registers,
    });
    const gauge = (name: string, help: string, pick: (s: DeploymentSample) => number): Gauge => {
      const read = this.snapshot;
      return new Gauge({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          for (const s of await read()) {
            this.set(labelsOf(s.model, s.deployment, s.environments[0] ?? null), pick(s));
          }
        },
      });
    };
    this.concurrent = gauge(
      'plinth_concurrent_requests',
      'Requests in flight or queued at the gateway.',
      (s) => s.concurrency,
    );
    this.active = gauge(
      'plinth_replicas_active',
      'Replicas ready to serve.',
      (s) => s.replicas.filter((r) => r.phase === 'READY').length,
    );
    this.starting = gauge(
      'plinth_replicas_starting',
      'Replicas starting or loading the model.',
      (s) => s.replicas.filter((r) => r.phase === 'STARTING').length,
    );
    new Gauge({
      name: 'plinth_metric_series_buckets',
      help: 'Metric series buckets held in memory (open ones, and closed ones waiting to be stored).',
      registers,
      collect() {
        this.set(series.bucketsInMemory);
      },
    });
  }

  request(m: RequestMeasure): void {
    this.requests.record(
      `${m.deployment.id}\0${m.environment ?? ''}\0${m.status}`,
      () => ({ ...labelsOf(m.model, m.deployment, m.environment), status_code: String(m.status) }),
      m,
    );
    this.series.addRequest(this.scopesOf(m), {
      status: m.status,
      e2eS: m.e2eS,
      ttfbS: m.ttfbS,
      queueS: m.queueS,
    });
  }

  /** The series scopes a request counts in, built once per deployment and environment. */
  private readonly requestScopes = new Map<string, Map<string, readonly string[]>>();

  private scopesOf(m: RequestMeasure): readonly string[] {
    let byEnvironment = this.requestScopes.get(m.deployment.id);
    if (!byEnvironment) {
      if (this.requestScopes.size >= 100_000) this.requestScopes.clear();
      byEnvironment = new Map();
      this.requestScopes.set(m.deployment.id, byEnvironment);
    }
    const environment = m.environment ?? '';
    let scopes = byEnvironment.get(environment);
    if (!scopes) {
      scopes = m.environment
        ? [deploymentScope(m.deployment.id), environmentScope(m.model.id, m.environment)]
        : [deploymentScope(m.deployment.id)];
      byEnvironment.set(environment, scopes);
    }
    return scopes;
  }

  coldStart(model: Model, d: Deployment, environment: string | null): void {
    this.coldStarts.inc(labelsOf(model, d, environment));
    const scopes = [deploymentScope(d.id)];
    if (environment) scopes.push(environmentScope(model.id, environment));
    this.series.addColdStart(scopes);
  }

  /**
   * The per-second sample of every deployment (and of the environments they serve); with
   * `withUsage`, its replicas' CPU and memory too, and their GPUs' use when `gpus` is given.
   */
  async sampleSecond(withUsage: boolean, gpus: Map<number, GpuUsage> | null = null): Promise<void> {
    const samples = await this.sampled();
    this.series.addSampledSecond();
    const alive = new Set<number>();
    for (const s of samples) {
      const live = s.replicas.filter(
        (r) => r.phase === 'READY' || r.phase === 'STARTING' || r.phase === 'DRAINING',
      );
      const sample = {
        concurrency: s.concurrency,
        active: live.filter((r) => r.phase === 'READY').length,
        starting: live.filter((r) => r.phase === 'STARTING').length,
        replicaTypes: live.map((r) => r.instanceType),
      };
      const scopes = [
        deploymentScope(s.deployment.id),
        ...s.environments.map((e) => environmentScope(s.model.id, e)),
      ];
      // A deployment at zero with nothing in flight is left out: its seconds count as zeros from
      // the sampler's own (no bucket held or stored for each of a thousand idle deployments).
      const idle = live.length === 0 && s.concurrency === 0;
      if (!idle) for (const scope of scopes) this.series.addSecond(scope, sample);
      if (!withUsage) continue;
      let cpu = 0;
      let rss = 0;
      let measured = false;
      for (const r of live) {
        if (r.pid === null) continue;
        alive.add(r.pid);
        const u = this.usage.read(r.pid);
        if (!u) continue;
        rss += u.rssBytes;
        if (u.cpuCores !== null) {
          cpu += u.cpuCores;
          measured = true;
        }
      }
      if (measured) for (const scope of scopes) this.series.addUsage(scope, cpu, rss);
      const devices = live.flatMap((r) => r.gpus).flatMap((i) => (gpus?.has(i) ? [gpus.get(i)!] : []));
      if (devices.length > 0) {
        const utilization = devices.reduce((a, g) => a + g.utilization, 0) / devices.length;
        const memory = devices.reduce((a, g) => a + g.memoryBytes, 0);
        for (const scope of scopes) this.series.addGpu(scope, utilization, memory);
      }
    }
    if (withUsage) this.usage.keep(alive);
  }

  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

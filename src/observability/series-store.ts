// The metric series of every deployment and environment: the open bucket of each scope at two
// resolutions (10 s, kept an hour; 5 min, kept a week) in memory, closed buckets in the store.
// Memory stays bounded by the number of scopes, whatever the traffic or the uptime; a restart
// loses at most the last flush interval. Several processes record the same scopes (gateways
// beside the control plane): each writes its own buckets (`scope@source`), and a query merges
// them all with this process's open ones into steps. A second in which a scope had nothing (a
// deployment at zero, nothing in flight) is not recorded in it: the sampler counts the seconds it
// ran in a scope of its own, and a query counts those a scope lacks as all-zero samples, so that a
// thousand deployments at zero hold and store nothing, and every average reads the same.
import type { Store } from '../store/store.ts';
import { addGpu, addRequest, addSecond, addUsage, emptyBucket, mergeBuckets, toPoint } from './series.ts';
import type { BucketData, RequestObservation, SecondSample, SeriesPoint } from './series.ts';

/** Where closed metric buckets are kept. */
export type BucketStore = Pick<Store, 'saveMetricBuckets' | 'queryMetricBuckets' | 'pruneMetricBuckets'>;

export const RESOLUTIONS = [
  { seconds: 10, keepMs: 3600_000 },
  { seconds: 300, keepMs: 7 * 86_400_000 },
] as const;

interface OpenBucket {
  scope: string;
  resolutionS: number;
  startMs: number;
  data: BucketData;
  dirty: boolean;
}

/** The sampler's own scope: one sample per second it ran, whatever it found. */
export const SAMPLED_SCOPE = 'sampled';

export const deploymentScope = (deploymentId: string): string => `deployment:${deploymentId}`;
export const environmentScope = (modelId: string, environment: string): string =>
  `environment:${modelId}/${environment}`;

export class SeriesStore {
  private readonly open = new Map<string, OpenBucket>();
  private closed: OpenBucket[] = [];

  constructor(
    private readonly store: BucketStore,
    private readonly clock: () => number = Date.now,
    /** Who writes these buckets beside others (a gateway's id); '' for the control plane. */
    private readonly source = '',
  ) {}

  /** The scope as this process writes it. */
  private written(scope: string): string {
    return this.source ? `${scope}@${this.source}` : scope;
  }

  /** Buckets held in memory (open ones and closed ones waiting for the next flush). */
  get bucketsInMemory(): number {
    return this.open.size + this.closed.length;
  }

  /** The open buckets' keys of each scope, one per resolution (built once, not per request). */
  private readonly keys = new Map<string, readonly string[]>();

  private keyOf(scope: string, index: number): string {
    let keys = this.keys.get(scope);
    if (!keys) {
      if (this.keys.size >= 100_000) this.keys.clear();
      keys = RESOLUTIONS.map((r) => `${scope}|${r.seconds}`);
      this.keys.set(scope, keys);
    }
    return keys[index]!;
  }

  /** The open bucket of `scope` at resolution `r` for the time `now` (its predecessor closed). */
  private bucket(scope: string, index: number, now: number): OpenBucket {
    const r = RESOLUTIONS[index]!;
    const key = this.keyOf(scope, index);
    const startMs = Math.floor(now / (r.seconds * 1000)) * r.seconds * 1000;
    let b = this.open.get(key);
    if (b && b.startMs !== startMs) {
      if (b.dirty) this.closed.push(b);
      b = undefined;
    }
    if (!b) {
      b = { scope, resolutionS: r.seconds, startMs, data: emptyBucket(), dirty: false };
      this.open.set(key, b);
    }
    b.dirty = true;
    return b;
  }

  private each(scope: string, update: (b: BucketData) => void): void {
    const now = this.clock();
    for (let i = 0; i < RESOLUTIONS.length; i++) update(this.bucket(scope, i, now).data);
  }

  /** An answered request, in each of its scopes (the gateway's hot path: no closure, one clock read). */
  addRequest(scopes: readonly string[], r: RequestObservation): void {
    const now = this.clock();
    for (const s of scopes)
      for (let i = 0; i < RESOLUTIONS.length; i++) addRequest(this.bucket(s, i, now).data, r);
  }

  addSecond(scope: string, sample: SecondSample): void {
    this.each(scope, (b) => addSecond(b, sample));
  }

  /** The sampler ran this second: what per-second averages count a second of any scope it left out as. */
  addSampledSecond(): void {
    this.each(SAMPLED_SCOPE, (b) => b.samples++);
  }

  addUsage(scope: string, cpuCores: number, rssBytes: number): void {
    this.each(scope, (b) => addUsage(b, cpuCores, rssBytes));
  }

  addGpu(scope: string, utilization: number, memoryBytes: number): void {
    this.each(scope, (b) => addGpu(b, utilization, memoryBytes));
  }

  addColdStart(scopes: readonly string[]): void {
    for (const s of scopes) this.each(s, (b) => b.coldStarts++);
  }

  /** Writes closed buckets and the open ones' progress; drops what is past its retention. */
  async flush(): Promise<void> {
    const closed = this.closed;
    this.closed = [];
    const open = [...this.open.values()].filter((b) => b.dirty);
    const now = this.clock();
    // Open buckets no longer written to are closed for good once their period is over.
    for (const [key, b] of this.open) {
      if (b.startMs + b.resolutionS * 1000 <= now) this.open.delete(key);
    }
    for (const b of open) b.dirty = false;
    await this.store.saveMetricBuckets(
      [...closed, ...open].map((b) => ({
        scope: this.written(b.scope),
        resolution_s: b.resolutionS,
        start_ms: b.startMs,
        data: b.data,
      })),
    );
    for (const r of RESOLUTIONS) await this.store.pruneMetricBuckets(r.seconds, now - r.keepMs);
  }

  /**
   * Points of `stepS` seconds from `fromMs` to `toMs`, from the finest resolution that covers the
   * range and fits the step. `price` gives an instance type's price per hour.
   */
  async query(
    scope: string,
    fromMs: number,
    toMs: number,
    stepS: number,
    price: (instanceType: string) => number | null,
  ): Promise<SeriesPoint[]> {
    const now = this.clock();
    const resolution =
      RESOLUTIONS.find((r) => stepS >= r.seconds && fromMs >= now - r.keepMs) ?? RESOLUTIONS.at(-1)!;
    const stepMs = Math.max(stepS, resolution.seconds) * 1000;
    const stepOf = (startMs: number): number =>
      fromMs + Math.max(0, Math.floor((startMs - fromMs) / stepMs)) * stepMs;
    const steps = new Map<number, BucketData>();
    for (const [startMs, data] of await this.buckets(scope, fromMs, toMs, resolution.seconds)) {
      const step = stepOf(startMs);
      steps.set(step, mergeBuckets(steps.get(step) ?? emptyBucket(), data));
    }
    const sampled = new Map<number, number>();
    for (const [startMs, data] of await this.sampledBuckets(scope, fromMs, toMs, resolution.seconds)) {
      const step = stepOf(startMs);
      sampled.set(step, (sampled.get(step) ?? 0) + data.samples);
    }
    const points: SeriesPoint[] = [];
    for (let t = fromMs; t < toMs; t += stepMs) {
      const data = withSampledSeconds(steps.get(t) ?? emptyBucket(), sampled.get(t) ?? 0);
      points.push(toPoint(t, stepMs / 1000, data, price));
    }
    return points;
  }

  /**
   * Everything recorded from `fromMs` to `toMs` in one bucket, from the finest resolution that
   * covers the range (so whole buckets: the range's edges are as fine as that resolution).
   */
  async total(scope: string, fromMs: number, toMs: number): Promise<BucketData> {
    const now = this.clock();
    const resolution = RESOLUTIONS.find((r) => fromMs >= now - r.keepMs) ?? RESOLUTIONS.at(-1)!;
    let sum = emptyBucket();
    for (const data of (await this.buckets(scope, fromMs, toMs, resolution.seconds)).values())
      sum = mergeBuckets(sum, data);
    let sampled = 0;
    for (const data of (await this.sampledBuckets(scope, fromMs, toMs, resolution.seconds)).values())
      sampled += data.samples;
    return withSampledSeconds(sum, sampled);
  }

  /** The sampler's buckets for a query of `scope` (none for its own). */
  private async sampledBuckets(
    scope: string,
    fromMs: number,
    toMs: number,
    resolutionS: number,
  ): Promise<Map<number, BucketData>> {
    return scope === SAMPLED_SCOPE ? new Map() : this.buckets(SAMPLED_SCOPE, fromMs, toMs, resolutionS);
  }

  /** The buckets of a resolution that overlap the range, each writer's merged, by start. */
  private async buckets(
    scope: string,
    fromMs: number,
    toMs: number,
    resolutionS: number,
  ): Promise<Map<number, BucketData>> {
    const stored = await this.store.queryMetricBuckets({
      scope,
      resolution_s: resolutionS,
      from_ms: fromMs - resolutionS * 1000,
      to_ms: toMs,
    });
    // Per bucket start, what each writer recorded; this process's own in memory is the latest.
    const writers = new Map<number, Map<string, BucketData>>();
    const put = (startMs: number, writer: string, data: BucketData): void => {
      const byWriter = writers.get(startMs) ?? new Map<string, BucketData>();
      byWriter.set(writer, data);
      writers.set(startMs, byWriter);
    };
    for (const b of stored) put(b.start_ms, b.scope, b.data as BucketData);
    for (const b of [...this.closed, ...this.open.values()]) {
      if (b.scope === scope && b.resolutionS === resolutionS) put(b.startMs, this.written(scope), b.data);
    }
    const buckets = new Map<number, BucketData>();
    for (const [startMs, byWriter] of writers) {
      if (startMs + resolutionS * 1000 <= fromMs || startMs >= toMs) continue;
      buckets.set(
        startMs,
        [...byWriter.values()].reduce((sum, data) => mergeBuckets(sum, data), emptyBucket()),
      );
    }
    return buckets;
  }
}

/** A scope's data with the seconds the sampler ran but left it out (nothing in it) as all-zero samples. */
function withSampledSeconds(data: BucketData, sampledSeconds: number): BucketData {
  return sampledSeconds > data.samples ? { ...data, samples: sampledSeconds } : data;
}

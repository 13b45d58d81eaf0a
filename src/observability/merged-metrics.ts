// /metrics of processes that serve one port together (`--gateway-workers`): every process's
// registry, as JSON, merged into one exposition by each family's aggregator (counters, histograms
// and gauges here all sum), plus one family that says how many inference requests each process
// answered. Pure: the registries come in, a registry goes out; asking the processes is the caller's.
import { AggregatorRegistry } from 'prom-client';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** What `registry.getMetricsAsJSON()` gives (and what crosses the IPC channel). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** One process's registry, named for the per-process family (`primary`, `worker-1`, …). */
export interface ProcessMetrics {
  process: string;
  metrics: MetricsJson;
}

const REQUESTS = 'plinth_inference_requests_total';
export const PROCESS_REQUESTS = 'plinth_gateway_process_requests_total';

/** Inference requests a process answered: the sum of its requests counter over every label set. */
export function requestsOf(metrics: MetricsJson): number {
  const family = metrics.find((m) => m.name === REQUESTS);
  return family ? family.values.reduce((sum, v) => sum + v.value, 0) : 0;
}

/** The processes' metrics as one registry (render it with `.metrics()`). */
export function mergeProcessMetrics(
  processes: readonly ProcessMetrics[],
): ReturnType<typeof AggregatorRegistry.aggregate> {
  const merged = AggregatorRegistry.aggregate(processes.map((p) => p.metrics));
  const perProcess = {
    name: PROCESS_REQUESTS,
    help: 'Inference requests answered by each process serving the port (--gateway-workers): primary, worker-1, …',
    type: 'counter',
    aggregator: 'sum',
    values: [...processes]
      .sort((a, b) => a.process.localeCompare(b.process, 'en', { numeric: true }))
      .map((p) => ({ labels: { process: p.process }, value: requestsOf(p.metrics) })),
  };
  merged.registerMetric({ ...perProcess, get: async () => perProcess } as never);
  return merged;
}

/**
 * Registries summed into one, value by value (the same family, series name and labels add up), as
 * JSON again: what exited processes had counted, kept by the process that asks the others.
 */
export function sumMetrics(registries: readonly MetricsJson[]): MetricsJson {
  const families = new Map<
    string,
    { family: MetricsJson[number]; values: Map<string, MetricValue<string>> }
  >();
  for (const registry of registries) {
    for (const family of registry) {
      let sum = families.get(family.name);
      if (!sum) {
        sum = { family, values: new Map() };
        families.set(family.name, sum);
      }
      for (const v of family.values) {
        const key = JSON.stringify([(v as { metricName?: string }).metricName ?? '', v.labels]);
        const seen = sum.values.get(key);
        sum.values.set(key, seen ? { ...seen, value: seen.value + v.value } : { ...v });
      }
    }
  }
  return [...families.values()].map(({ family, values }) => ({ ...family, values: [...values.values()] }));
}

// Merging the registries of processes that share a port: the request counter and the latency and
// size histograms (kept by RequestFamilies, outside prom-client's own classes) sum across processes
// label set by label set, a gauge sums, and each process's own request count is its own line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gauge, Registry } from 'prom-client';
import { LATENCY_BOUNDS } from './series.ts';
import { mergeProcessMetrics, PROCESS_REQUESTS, requestsOf, sumMetrics } from './merged-metrics.ts';
import { RequestFamilies } from './request-families.ts';
import type { RequestLabels } from './request-families.ts';

const LABELS: RequestLabels = {
  model_id: 'm1',
  model_name: 'hello',
  deployment_id: 'd1',
  environment: 'production',
  status_code: '200',
};

/** A process's registry that answered `latenciesS` (status 200) and `failed` requests (status 500). */
function processRegistry(latenciesS: number[], failed: number, buckets: number): Registry {
  const registry = new Registry();
  const families = new RequestFamilies(registry, { name: 'plinth_inference_requests_total', help: 'h' }, [
    {
      name: 'plinth_end_to_end_response_time_seconds',
      help: 'h',
      bounds: LATENCY_BOUNDS,
      pick: (v) => v.e2eS,
    },
  ]);
  const values = (e2eS: number) => ({ e2eS, ttfbS: e2eS, queueS: 0, requestBytes: 10, responseBytes: 10 });
  for (const s of latenciesS) families.record('ok', () => LABELS, values(s));
  for (let i = 0; i < failed; i++)
    families.record('failed', () => ({ ...LABELS, status_code: '500' }), values(0.001));
  new Gauge({ name: 'plinth_metric_series_buckets', help: 'h', registers: [registry] }).set(buckets);
  return registry;
}

function sample(text: string, name: string, labels = ''): number {
  const head = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(head));
  assert.ok(line, `${name}{${labels}} in:\n${text}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('counters and histograms sum over processes, label set by label set; each process is counted on its own line', async () => {
  const primary = processRegistry([0.004, 0.2], 1, 3);
  const worker = processRegistry([0.004, 0.004, 0.3], 0, 5);
  const merged = mergeProcessMetrics([
    { process: 'primary', metrics: await primary.getMetricsAsJSON() },
    { process: 'worker-1', metrics: await worker.getMetricsAsJSON() },
  ]);
  const text = await merged.metrics();
  const ok = 'model_id="m1",model_name="hello",deployment_id="d1",environment="production",status_code="200"';
  assert.equal(sample(text, 'plinth_inference_requests_total', ok), 5);
  assert.equal(sample(text, 'plinth_inference_requests_total', ok.replace('"200"', '"500"')), 1);
  const e2e = 'plinth_end_to_end_response_time_seconds';
  assert.equal(sample(text, `${e2e}_count`, ok), 5);
  assert.equal(sample(text, `${e2e}_bucket`, `le="+Inf",${ok}`), 5);
  assert.equal(sample(text, `${e2e}_bucket`, `le="0.005",${ok}`), 3, 'a bucket sums the processes');
  assert.ok(Math.abs(sample(text, `${e2e}_sum`, ok) - 0.512) < 1e-9);
  assert.equal(sample(text, 'plinth_metric_series_buckets'), 8, 'a gauge sums');
  assert.equal(sample(text, PROCESS_REQUESTS, 'process="primary"'), 3);
  assert.equal(sample(text, PROCESS_REQUESTS, 'process="worker-1"'), 3);
  assert.match(text, /^# TYPE plinth_end_to_end_response_time_seconds histogram$/m);
});

test("a process that answered nothing counts 0; a process's request count sums its label sets", async () => {
  const idle = await new Registry().getMetricsAsJSON();
  assert.equal(requestsOf(idle), 0);
  assert.equal(requestsOf(await processRegistry([0.1], 2, 0).getMetricsAsJSON()), 3);
  const text = await mergeProcessMetrics([
    { process: 'primary', metrics: await processRegistry([0.1], 0, 0).getMetricsAsJSON() },
    { process: 'worker-1', metrics: idle },
  ]).metrics();
  assert.equal(sample(text, PROCESS_REQUESTS, 'process="worker-1"'), 0);
});

test('what exited processes counted, summed value by value, keeps the merged counters from going back', async () => {
  const primary = await processRegistry([0.004], 0, 1).getMetricsAsJSON();
  const first = await processRegistry([0.004, 0.2], 1, 3).getMetricsAsJSON();
  const second = await processRegistry([0.3], 0, 2).getMetricsAsJSON();
  const ok = 'model_id="m1",model_name="hello",deployment_id="d1",environment="production",status_code="200"';
  const e2e = 'plinth_end_to_end_response_time_seconds';
  const before = await mergeProcessMetrics([
    { process: 'primary', metrics: primary },
    { process: 'worker-1', metrics: first },
  ]).metrics();
  // worker-1 exited after `first`, and its successor counted `second` since.
  const after = await mergeProcessMetrics([
    { process: 'primary', metrics: primary },
    { process: 'worker-1', metrics: second },
    { process: 'exited', metrics: sumMetrics([[], first]) },
  ]).metrics();
  assert.equal(sample(before, 'plinth_inference_requests_total', ok), 3);
  assert.equal(sample(after, 'plinth_inference_requests_total', ok), 4, 'one more, none lost');
  assert.equal(sample(after, `${e2e}_count`, ok), 4);
  assert.equal(sample(after, `${e2e}_bucket`, `le="0.005",${ok}`), 2);
  assert.equal(sample(after, `${e2e}_sum`, ok), sample(before, `${e2e}_sum`, ok) + 0.3);
  const twice = sumMetrics([first, first]);
  const requests = twice.find((m) => m.name === 'plinth_inference_requests_total')!;
  assert.deepEqual(requests.values.map((v) => v.value).sort(), [2, 4], 'each label set adds up on its own');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { RequestFamilies } from './request-families.ts';
import type { RequestLabels, RequestValues } from './request-families.ts';

const BOUNDS = [0.01, 0.1, 1];
const SIZES = [100, 1000];
const FAMILIES = [
  { name: 'x_e2e_seconds', help: 'e2e', bounds: BOUNDS, pick: (v: RequestValues) => v.e2eS },
  { name: 'x_ttfb_seconds', help: 'ttfb', bounds: BOUNDS, pick: (v: RequestValues) => v.ttfbS },
  { name: 'x_queue_seconds', help: 'queue', bounds: BOUNDS, pick: (v: RequestValues) => v.queueS },
  { name: 'x_request_bytes', help: 'req', bounds: SIZES, pick: (v: RequestValues) => v.requestBytes },
  { name: 'x_response_bytes', help: 'resp', bounds: SIZES, pick: (v: RequestValues) => v.responseBytes },
];

test("a scrape shows exactly what prom-client's own counter and histograms show for the same requests", async () => {
  const ours = new Registry();
  const families = new RequestFamilies(ours, { name: 'x_requests_total', help: 'requests' }, FAMILIES);
  const theirs = new Registry();
  const labelNames = ['model_id', 'model_name', 'deployment_id', 'environment', 'status_code'];
  const counter = new Counter({
    name: 'x_requests_total',
    help: 'requests',
    labelNames,
    registers: [theirs],
  });
  const histograms = FAMILIES.map(
    (f) =>
      new Histogram({ name: f.name, help: f.help, labelNames, buckets: [...f.bounds], registers: [theirs] }),
  );
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 2000; i++) {
    const deployment = `d${Math.floor(random() * 3)}`;
    const environment = random() < 0.5 ? 'production' : '';
    const status = random() < 0.9 ? 200 : 503;
    const labels: RequestLabels = {
      model_id: 'm1',
      model_name: 'a "quoted" \\ model',
      deployment_id: deployment,
      environment,
      status_code: String(status),
    };
    const values: RequestValues = {
      // Values on the bounds too: a bucket counts what is at most its bound.
      e2eS: random() < 0.1 ? 0.1 : random() * 2,
      ttfbS: random() < 0.2 ? null : random(),
      queueS: random() < 0.5 ? 0 : random() / 10,
      requestBytes: Math.floor(random() * 2000),
      responseBytes: random() < 0.1 ? 1000 : Math.floor(random() * 2000),
    };
    families.record(`${deployment}\0${environment}\0${status}`, () => labels, values);
    counter.inc(labels);
    FAMILIES.forEach((f, k) => {
      const v = f.pick(values);
      if (v !== null) histograms[k]!.observe(labels, v);
    });
  }
  const lines = (text: string) => text.split('\n').filter(Boolean).sort();
  assert.deepEqual(lines(await ours.metrics()), lines(await theirs.metrics()));
});

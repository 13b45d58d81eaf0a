import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULT_AUTOSCALING } from '../domain/autoscaling.ts';
import type { Deployment, Model } from '../domain/types.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { parseGpuUsage, readGpuUsage } from './gpu-usage.ts';
import { Metrics } from './metrics.ts';
import { deploymentScope, SeriesStore } from './series-store.ts';

const fixture = readFileSync(
  new URL('../runtime/local/fixtures/nvidia-smi-usage.csv', import.meta.url),
  'utf8',
);

test('GPU use is read from nvidia-smi per device; no nvidia-smi: none', async () => {
  assert.deepEqual(
    [...parseGpuUsage(fixture)],
    [
      [0, { utilization: 0.87, memoryBytes: 61234 * 1024 ** 2 }],
      [1, { utilization: 0, memoryBytes: 512 * 1024 ** 2 }],
    ],
  );
  assert.equal(await readGpuUsage('/nonexistent/nvidia-smi'), null);
});

test("a deployment's sample counts its replicas, their instance types, and the GPUs they hold", async () => {
  const store = await openSqliteStore(':memory:');
  let now = Date.parse('2026-01-01T00:00:00Z');
  const series = new SeriesStore(store, () => now);
  const model: Model = { id: 'm1', name: 'm', created_at: '' } as Model;
  const deployment = { id: 'd1', model_id: 'm1', autoscaling_settings: DEFAULT_AUTOSCALING } as Deployment;
  const metrics = new Metrics(series, async () => [
    {
      model,
      deployment,
      environments: ['production'],
      concurrency: 3,
      replicas: [
        { phase: 'READY', instanceType: 'L4:4x16', pid: null, gpus: [0] },
        { phase: 'STARTING', instanceType: 'L4:4x16', pid: null, gpus: [1] },
      ],
    },
  ]);
  for (let i = 0; i < 4; i++) {
    now += 1000;
    await metrics.sampleSecond(true, parseGpuUsage(fixture));
  }
  const [point] = await series.query(deploymentScope('d1'), now - 10_000, now, 10, () => 0.85);
  assert.equal(point!.replicas_active, 1);
  assert.equal(point!.replicas_starting, 1);
  assert.equal(point!.concurrency_avg, 3);
  assert.deepEqual(point!.replica_seconds, { 'L4:4x16': 8 });
  assert.equal(point!.gpu_utilization, 0.435, 'the average of its two GPUs');
  assert.equal(point!.gpu_memory_bytes, (61234 + 512) * 1024 ** 2);
  const exposition = await metrics.exposition();
  assert.match(
    exposition,
    /plinth_replicas_active\{model_id="m1",model_name="m",deployment_id="d1",environment="production"\} 1/,
  );
  assert.match(exposition, /plinth_concurrent_requests\{[^}]*\} 3/);
  // Three scopes (the deployment, its environment, the sampler's own) at two resolutions.
  assert.match(exposition, /^plinth_metric_series_buckets 6$/m);
});

test('a model name with spaces, quotes, backslashes and non-ASCII is escaped in the exposition', async () => {
  const store = await openSqliteStore(':memory:');
  const series = new SeriesStore(store, () => 0);
  const metrics = new Metrics(series, async () => []);
  const model = { id: 'm2', name: 'My "Model" v2 \\ é', created_at: '' } as Model;
  const deployment = { id: 'd2', model_id: 'm2', autoscaling_settings: DEFAULT_AUTOSCALING } as Deployment;
  metrics.coldStart(model, deployment, 'production');
  const exposition = await metrics.exposition();
  assert.ok(
    exposition.includes(
      'plinth_cold_starts_total{model_id="m2",model_name="My \\"Model\\" v2 \\\\ é",deployment_id="d2",environment="production"} 1',
    ),
    exposition,
  );
});

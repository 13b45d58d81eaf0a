import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { quantile } from './series.ts';
import { deploymentScope, environmentScope, SeriesStore } from './series-store.ts';

test('requests and samples add up exactly over steps; percentiles come from the histograms', async () => {
  const store = await openSqliteStore(':memory:');
  let now = Date.parse('2026-01-01T00:00:00Z');
  const series = new SeriesStore(store, () => now);
  const d = deploymentScope('d1');
  const e = environmentScope('m1', 'production');
  for (let i = 0; i < 100; i++) {
    now += 1000;
    series.addRequest([d, e], {
      status: i % 10 === 0 ? 500 : 200,
      e2eS: i < 90 ? 0.02 : 2,
      ttfbS: 0.01,
      queueS: 0,
    });
    series.addSecond(d, { concurrency: 2, active: 1, starting: 0, replicaTypes: ['1x2'] });
    if (i % 20 === 0) await series.flush();
  }
  const from = Date.parse('2026-01-01T00:00:00Z');
  const points = await series.query(d, from, from + 120_000, 60, () => 3.6);
  assert.equal(points.length, 2);
  const sum = (k: '2xx' | '5xx') => points.reduce((a, p) => a + p.requests[k], 0);
  assert.deepEqual([sum('2xx'), sum('5xx')], [90, 10]);
  assert.equal(
    points.reduce((a, p) => a + (p.replica_seconds['1x2'] ?? 0), 0),
    100,
  );
  assert.equal(
    Math.round(points.reduce((a, p) => a + (p.cost ?? 0), 0) * 1000) / 1000,
    0.1,
    '100 replica-seconds at 3.6 $/h',
  );
  assert.equal(points[0]!.concurrency_avg, 2);
  const envPoints = await series.query(e, from, from + 120_000, 120, () => null);
  assert.equal(envPoints[0]!.requests['2xx'] + envPoints[0]!.requests['5xx'], 100);
  assert.ok(envPoints[0]!.latency_seconds.p50! <= 0.025, 'p50 within the 25 ms bucket');
  assert.ok(envPoints[0]!.latency_seconds.p99! > 1, 'p99 in the slow tail');
  assert.equal(quantile([0, 0, 0], 0.5), null);
});

test('memory holds only open buckets however long it runs; closed ones go to the store and are pruned', async () => {
  const store = await openSqliteStore(':memory:');
  let now = Date.parse('2026-01-01T00:00:00Z');
  const series = new SeriesStore(store, () => now);
  const scopes = Array.from({ length: 5 }, (_, i) => deploymentScope(`d${i}`));
  let most = 0;
  for (let s = 0; s < 3 * 3600; s++) {
    now += 1000;
    for (const scope of scopes)
      series.addSecond(scope, { concurrency: 1, active: 1, starting: 0, replicaTypes: ['1x2'] });
    if (s % 10 === 9) await series.flush();
    most = Math.max(most, series.bucketsInMemory);
  }
  assert.ok(
    most <= scopes.length * 2 * 2,
    `at most two buckets per scope and resolution in memory (saw ${most})`,
  );
  const fine = await store.queryMetricBuckets({
    scope: scopes[0]!,
    resolution_s: 10,
    from_ms: 0,
    to_ms: now + 1,
  });
  assert.ok(fine.length <= 361, `10 s buckets are kept for an hour (${fine.length})`);
  const coarse = await store.queryMetricBuckets({
    scope: scopes[0]!,
    resolution_s: 300,
    from_ms: 0,
    to_ms: now + 1,
  });
  assert.ok(coarse.length === 36 || coarse.length === 37, `three hours of 5 min buckets (${coarse.length})`);
});

test('a scope several processes record (gateways beside the control plane) adds up across them', async () => {
  const store = await openSqliteStore(':memory:');
  let now = Date.parse('2026-01-01T00:00:00Z');
  const controlPlane = new SeriesStore(store, () => now);
  const gatewayA = new SeriesStore(store, () => now, 'gateway-a');
  const gatewayB = new SeriesStore(store, () => now, 'gateway-b');
  const d = deploymentScope('d1');
  const request = { status: 200, e2eS: 0.01, ttfbS: 0.01, queueS: 0 };
  for (let i = 0; i < 30; i++) {
    now += 1000;
    controlPlane.addRequest([d], request);
    gatewayA.addRequest([d], request);
    gatewayA.addRequest([d], request);
    gatewayB.addRequest([d], request);
  }
  for (const s of [controlPlane, gatewayA, gatewayB]) await s.flush();
  // Read from each: its own open buckets and the others' stored ones, none counted twice.
  const from = Date.parse('2026-01-01T00:00:00Z');
  for (const reader of [controlPlane, gatewayA, gatewayB]) {
    const points = await reader.query(d, from, from + 60_000, 60, () => null);
    assert.equal(points[0]!.requests['2xx'], 120);
  }
  await store.close();
});

test('the total of a range is every request in its buckets, stored or still open, and none outside it', async () => {
  const store = await openSqliteStore(':memory:');
  const start = Date.parse('2026-01-01T00:00:00Z');
  let now = start;
  const series = new SeriesStore(store, () => now);
  const d = deploymentScope('d1');
  for (let i = 0; i < 30; i++) {
    now = start + i * 1000;
    series.addRequest([d], { status: i < 25 ? 200 : 500, e2eS: 0.1, ttfbS: 0.05, queueS: 0 });
    if (i === 15) await series.flush();
  }
  now = start + 40_000;
  const all = await series.total(d, start, now);
  assert.deepEqual(all.requests, { '2xx': 25, '3xx': 0, '4xx': 0, '5xx': 5 });
  assert.equal(all.latencySumCount, 30);
  const last = await series.total(d, start + 20_000, now);
  assert.deepEqual(last.requests, { '2xx': 5, '3xx': 0, '4xx': 0, '5xx': 5 }, 'the third 10 s bucket');
  assert.equal(
    Object.values((await series.total(d, now, now + 10_000)).requests).reduce((a, n) => a + n),
    0,
  );
});

test('seconds left out while idle keep no bucket and store none, yet every point and total reads as if sampled as zero', async () => {
  const start = Date.parse('2026-01-01T00:00:00Z');
  let now = start;
  const sampled = await openSqliteStore(':memory:');
  const skipped = await openSqliteStore(':memory:');
  // The same timeline twice: idle seconds as all-zero samples, and as idle seconds.
  const reference = new SeriesStore(sampled, () => now);
  const series = new SeriesStore(skipped, () => now);
  const d = deploymentScope('d1');
  // Live (2 in flight, 1 replica) for a while, at zero in between, waking mid-bucket (at odd seconds
  // into a 10 s and a 5 min bucket), with a cold start that arrives while still at zero.
  const live = (s: number): boolean =>
    (s >= 3 && s < 47) || (s >= 1234 && s < 1301) || (s >= 2897 && s < 2903);
  let idleBuckets = Infinity;
  for (let s = 0; s < 3600; s++) {
    now = start + s * 1000 + 300;
    if (s === 1233) {
      reference.addColdStart([d]);
      series.addColdStart([d]);
    }
    const sample = live(s)
      ? { concurrency: 2, active: 1, starting: 0, replicaTypes: ['1x2'] }
      : { concurrency: 0, active: 0, starting: 0, replicaTypes: [] };
    reference.addSecond(d, sample);
    // The sampler ran: a second of every scope; the idle ones are left out of their own.
    series.addSampledSecond();
    if (live(s)) series.addSecond(d, sample);
    if (s % 10 === 9) {
      await reference.flush();
      await series.flush();
    }
    if (s === 2000) idleBuckets = series.bucketsInMemory;
  }
  assert.equal(idleBuckets, 2, "long idle: nothing of the deployment in memory, only the sampler's own");
  for (const [stepS, from] of [
    [10, start],
    [60, start],
    [300, start],
    [900, start + 600_000],
  ] as const) {
    const expected = await reference.query(d, from, now, stepS, () => 1);
    const got = await series.query(d, from, now, stepS, () => 1);
    assert.deepEqual(got, expected, `points of ${stepS} s`);
    assert.deepEqual(
      await series.total(d, from, now),
      await reference.total(d, from, now),
      `total from ${from}`,
    );
  }
  const stored = async (store: typeof sampled) =>
    (await store.queryMetricBuckets({ scope: d, resolution_s: 10, from_ms: 0, to_ms: now + 1 })).length;
  assert.equal(await stored(sampled), 360, 'sampled: every 10 s bucket of the hour');
  assert.ok(
    (await stored(skipped)) <= 16,
    `idle: only the buckets with something in them (${await stored(skipped)})`,
  );
});

// Memory of the metric series under a long synthetic run: per-second samples (and a request
// every second) for many deployments over days of fake time, flushed to a real SQLite store every
// 10 s as the server does. Baseline in the same run: keeping every sample in memory (what a
// series without buckets would hold). Run: node --expose-gc --import tsx bench/series-memory.ts [--deployments 20] [--hours 48]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploymentScope, SeriesStore } from '../src/observability/series-store.ts';
import { openSqliteStore } from '../src/store/sqlite/open.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const deployments = arg('--deployments', 20);
const hours = arg('--hours', 48);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const heapMiB = (): number => {
  gc();
  return process.memoryUsage().heapUsed / 1024 ** 2;
};

const dir = mkdtempSync(join(tmpdir(), 'plinth-series-'));
const store = await openSqliteStore(join(dir, 'plinth.db'));
let now = Date.parse('2026-01-01T00:00:00Z');
const series = new SeriesStore(store, () => now);
const scopes = Array.from({ length: deployments }, (_, i) => deploymentScope(`d${i}`));
const naive: { t: number; scope: string; concurrency: number; latency: number }[] = [];

const start = heapMiB();
const checkpoints: string[] = [];
const t0 = performance.now();
for (let s = 1; s <= hours * 3600; s++) {
  now += 1000;
  for (const scope of scopes) {
    const concurrency = (s % 7) + 1;
    const latency = 0.01 + (s % 100) / 1000;
    series.addSecond(scope, { concurrency, active: 2, starting: 0, replicaTypes: ['1x2', '1x2'] });
    series.addRequest([scope], {
      status: s % 50 === 0 ? 500 : 200,
      e2eS: latency,
      ttfbS: latency / 2,
      queueS: 0,
    });
    naive.push({ t: now, scope, concurrency, latency });
  }
  if (s % 10 === 0) await series.flush();
  if (s % (12 * 3600) === 0) {
    checkpoints.push(
      `${String(s / 3600).padStart(5)} h | ${heapMiB().toFixed(1).padStart(10)} MiB heap | ${String(series.bucketsInMemory).padStart(6)} buckets in memory | ${String(naive.length).padStart(10)} raw samples`,
    );
  }
}
const seconds = (performance.now() - t0) / 1000;
const withNaive = heapMiB();
naive.length = 0;
const ours = heapMiB();
const dbMiB = statSync(join(dir, 'plinth.db')).size / 1024 ** 2;
console.log(
  `# series memory: ${deployments} deployments × ${hours} h of per-second samples (${seconds.toFixed(0)} s to run)`,
);
console.log('  time  |  heap (series + raw baseline)  | series buckets | raw samples kept by the baseline');
for (const c of checkpoints) console.log(c);
console.log(
  `heap at start ${start.toFixed(1)} MiB; at the end with the raw baseline ${withNaive.toFixed(1)} MiB; series alone ${ours.toFixed(1)} MiB`,
);
console.log(`SQLite file ${dbMiB.toFixed(1)} MiB (10 s buckets for the last hour, 5 min buckets for a week)`);
await store.close();
rmSync(dir, { recursive: true, force: true });

// Async inference throughput against sync, in one run, on one deployment with a fixed capacity
// (1 replica × predict_concurrency 8, a model that works 10 ms): sync requests/s with 32 clients;
// async requests accepted/s (32 clients POSTing …/async_predict) and completed/s (until the queue
// is empty); and, for a burst of 500 async requests at once, the time each waited in the queue
// (started_at − created_at) at p50/p99. Run: npm run bench:async [-- --requests 2000]
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startBenchPlatform } from './platform.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' } } });
const N = Number(values.requests);
const CLIENTS = 32;

const dir = mkdtempSync(join(tmpdir(), 'plinth-bench-async-'));
mkdirSync(join(dir, 'model'));
writeFileSync(
  join(dir, 'config.yaml'),
  'model_name: bench-async\nruntime:\n  predict_concurrency: 8\nautoscaling:\n  min_replica: 1\n  max_replica: 1\n',
);
writeFileSync(
  join(dir, 'model', 'model.ts'),
  'export class Model {\n  async predict(input) {\n    await new Promise((r) => setTimeout(r, 10));\n    return { n: input.n ?? 0 };\n  }\n}\n',
);

const platform = await startBenchPlatform();
try {
  const { json } = platform.push(dir);
  const base = `${platform.url}/models/${json.model_id}/production`;
  const post = (path: string, body: unknown) =>
    fetch(`${base}/${path}`, {
      method: 'POST',
      headers: { ...platform.auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  /** Runs `count` calls of `one` with CLIENTS at a time; answers the seconds it took. */
  async function pool(count: number, one: (i: number) => Promise<void>): Promise<number> {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = next++; i < count; i = next++) await one(i);
      }),
    );
    return (performance.now() - started) / 1000;
  }

  async function drained(): Promise<void> {
    for (;;) {
      const res = await fetch(`${base}/async_queue_status`, { headers: platform.auth });
      const s = (await res.json()) as { num_queued_requests: number; num_in_progress_requests: number };
      if (s.num_queued_requests === 0 && s.num_in_progress_requests === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // Warm up.
  await pool(200, async (i) => void (await (await post('predict', { n: i })).arrayBuffer()));

  const syncS = await pool(N, async (i) => {
    const res = await post('predict', { n: i });
    if (res.status !== 200) throw new Error(`sync: ${res.status}`);
    await res.arrayBuffer();
  });

  const asyncStarted = performance.now();
  const acceptS = await pool(N, async (i) => {
    const res = await post('async_predict', { model_input: { n: i } });
    if (res.status !== 201) throw new Error(`async: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  });
  await drained();
  const completeS = (performance.now() - asyncStarted) / 1000;

  // A burst: 500 at once, then each one's wait in the queue.
  const burst: string[] = [];
  await Promise.all(
    Array.from({ length: 500 }, async (_, i) => {
      const res = await post('async_predict', { model_input: { n: i } });
      burst.push(((await res.json()) as { request_id: string }).request_id);
    }),
  );
  await drained();
  const waits: number[] = [];
  await pool(burst.length, async (i) => {
    const res = await fetch(`${base}/async_request/${burst[i]}`, { headers: platform.auth });
    const r = (await res.json()) as { created_at: string; started_at: string };
    waits.push((Date.parse(r.started_at) - Date.parse(r.created_at)) / 1000);
  });
  waits.sort((a, b) => a - b);
  const at = (q: number) => waits[Math.min(waits.length - 1, Math.floor(q * waits.length))]!;

  const rate = (n: number, s: number) => (n / s).toFixed(0).padStart(6);
  console.log(
    `async vs sync, ${N} requests, ${CLIENTS} clients, 1 replica × predict_concurrency 8, 10 ms model`,
  );
  console.log(`  sync  completed   ${rate(N, syncS)} req/s`);
  console.log(`  async accepted    ${rate(N, acceptS)} req/s`);
  console.log(
    `  async completed   ${rate(N, completeS)} req/s  (${((N / completeS / (N / syncS)) * 100).toFixed(0)}% of sync)`,
  );
  console.log(
    `  burst of 500: time in queue p50 ${at(0.5).toFixed(2)} s, p99 ${at(0.99).toFixed(2)} s (ideal drain: ${((500 / 8) * 0.01).toFixed(2)} s)`,
  );
} finally {
  await platform.stop();
}

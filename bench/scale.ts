// The control plane at scale: N models × 2 deployments seeded through the Store (all at zero, with
// a real pushed bundle), 5% made live through the API (min_replica 1: real replicas) and 3
// gradual promotions started, then the real `plinth up` measured: RSS, startup (to /healthz, and
// to the live models READY) on the seeded store and again on a restart, pass times of the control
// loops (plinth_control_loop_seconds), GET /v1/models (whole and a page of 100) and a deployment
// GET, gateway overhead on a live model against an empty server in the same run, and the series
// store's buckets. Run: npm run bench:scale [-- --models 100,1000 --store sqlite,postgres]
// (`--repo DIR` measures another checkout's bin/plinth.js, built, with the same seeding.)
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase } from '../test/support/postgres-database.ts';
import type { Deployment } from '../src/domain/types.ts';
import { ensureTool, REPO, rssBytes } from './platform.ts';
import { openSeedStore, seedModels } from './scale-seed.ts';
import type { SeededModel } from './scale-seed.ts';
import { bucketsPerMiB, loopTimes, metricValue, scrape } from './scale-metrics.ts';
import type { LoopTimes } from './scale-metrics.ts';
import { runWrk } from './wrk.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
};
const SIZES = arg('--models', '100,1000').split(',').map(Number);
const STORES = arg('--store', 'sqlite').split(',') as ('sqlite' | 'postgres')[];
const TARGET = resolve(arg('--repo', REPO));
const BIN = join(TARGET, 'bin', 'plinth.js');
const WINDOW_S = Number(arg('--seconds', '20'));
const WRK_S = Number(arg('--wrk-duration', '5'));
const LIVE_SHARE = 0.05;
const PROMOTIONS = 3;
const ECHO = join(REPO, 'bench', 'models', 'echo');
const wrk = ensureTool('wrk', 'wrk');
const MiB = 1024 ** 2;

interface Up {
  url: string;
  pid: number;
  apiKey: string;
  healthzMs: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** `plinth up` on `home` (and `store`); resolves once /healthz answers, with how long that took. */
async function up(home: string, store: string | null): Promise<Up> {
  const port = await freePort();
  const args = [BIN, 'up', '--port', String(port), '--home', home, '--capacity', 'cpu=64,memory=1024Gi'];
  if (store) args.push('--store', store);
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    // Truss's base Python environment is prepared once per machine, not once per scratch home.
    env: {
      PLINTH_PYTHON_BASE_DIR: join(tmpdir(), 'plinth-test-python-base'),
      PIP_RETRIES: '0',
      ...process.env,
    },
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`plinth up exited ${child.exitCode}: ${stderr}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(10);
  }
  const healthzMs = performance.now() - started;
  // The admin key is written once the server listens, just after /healthz first answers.
  let apiKey = '';
  while (!apiKey) {
    try {
      apiKey = (JSON.parse(readFileSync(join(home, 'credentials.json'), 'utf8')) as { api_key: string })
        .api_key;
    } catch {
      await sleep(10);
    }
  }
  return {
    url,
    pid: child.pid!,
    apiKey,
    healthzMs,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function call<T>(server: Up, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Api-Key ${server.apiKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

function push(server: Up, dir: string): { model_id: string; deployment_id: string } {
  const r = spawnSync(process.execPath, [BIN, 'push', dir, '--output', 'json'], {
    env: { ...process.env, PLINTH_URL: server.url, PLINTH_API_KEY: server.apiKey },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`push failed: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as { model_id: string; deployment_id: string };
}

/** Runs `fn` over `items`, `parallel` at a time. */
async function each<T>(items: readonly T[], parallel: number, fn: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += parallel) await Promise.all(items.slice(i, i + parallel).map(fn));
}

/** Milliseconds until every model in `models` has a ready production replica (or how many had none after 5 min). */
async function untilLive(server: Up, models: readonly SeededModel[], started: number): Promise<string> {
  let waiting = [...models];
  const deadline = started + 300_000;
  while (waiting.length > 0) {
    if (performance.now() > deadline) return `> 300000 (${waiting.length} not ready)`;
    const ready = new Set<string>();
    await each(waiting, 10, async (m) => {
      const d = await call<{ active_replica_count: number }>(
        server,
        'GET',
        `/v1/models/${m.id}/deployments/production`,
      );
      if (d.active_replica_count > 0) ready.add(m.id);
    });
    waiting = waiting.filter((m) => !ready.has(m.id));
    if (waiting.length > 0) await sleep(200);
  }
  return ms(performance.now() - started);
}

/** p50 and p99 of `runs` sequential GETs of `path()` in ms (fewer, but at least 20, past 20 s). */
async function latency(server: Up, runs: number, path: () => string): Promise<[number, number]> {
  const times: number[] = [];
  const budgetEnds = performance.now() + 20_000;
  for (let i = 0; i < runs + 3 && (times.length < 20 || performance.now() < budgetEnds); i++) {
    const started = performance.now();
    await call(server, 'GET', path());
    if (i >= 3) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
  return [at(0.5), at(0.99)];
}

interface Overhead {
  direct: [number, number];
  gateway: [number, number];
}

/** p50/p99 of the live model called directly and through the gateway, at 1 and 16 connections. */
function gatewayOverhead(server: Up, modelId: string, replica: string): Overhead[] {
  const direct = `http://${replica}/v1/models/model:predict`;
  const gateway = `${server.url}/models/${modelId}/environments/production/predict`;
  const headers = [`Authorization: Api-Key ${server.apiKey}`];
  return [1, 16].map((c) => {
    runWrk(wrk, gateway, c, 1, headers); // warm-up
    const d = runWrk(wrk, direct, c, WRK_S);
    const g = runWrk(wrk, gateway, c, WRK_S, headers);
    return { direct: [d.p50Ms, d.p99Ms], gateway: [g.p50Ms, g.p99Ms] };
  });
}

async function liveReplica(server: Up, modelId: string): Promise<string> {
  const { replicas } = await call<{ replicas: { address: string; status: string }[] }>(
    server,
    'GET',
    `/v1/models/${modelId}/deployments/production/replicas`,
  );
  return replicas.find((r) => r.status === 'READY')!.address;
}

interface Result {
  label: string;
  figures: Map<string, string>;
}

const ms = (x: number): string => x.toFixed(x < 10 ? 2 : 0);
const pair = ([a, b]: [number, number]): string => `${ms(a)} / ${ms(b)}`;

/** A scratch home and store (a fresh PostgreSQL database per run), removed by `drop`. */
async function scratch(store: 'sqlite' | 'postgres') {
  const home = mkdtempSync(join(tmpdir(), 'plinth-scale-'));
  const database = store === 'postgres' ? await createTestDatabase() : null;
  return {
    home,
    url: database?.url ?? null,
    async drop() {
      await database?.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The baseline: an empty server with one live echo model. */
async function emptyServer(store: 'sqlite' | 'postgres'): Promise<Result> {
  const place = await scratch(store);
  const server = await up(place.home, place.url);
  try {
    const figures = new Map<string, string>();
    figures.set('startup → /healthz (ms)', ms(server.healthzMs));
    const { model_id } = push(server, ECHO);
    await sleep(3000);
    figures.set('server RSS (MiB)', (rssBytes(server.pid) / MiB).toFixed(0));
    const overhead = gatewayOverhead(server, model_id, await liveReplica(server, model_id));
    addOverhead(figures, overhead);
    return { label: 'empty + 1 live', figures };
  } finally {
    await server.stop();
    await place.drop();
  }
}

function addOverhead(figures: Map<string, string>, overhead: Overhead[]): void {
  overhead.forEach((o, i) => {
    const c = i === 0 ? 1 : 16;
    figures.set(`c=${c} direct p50 / p99 (ms)`, pair(o.direct));
    figures.set(`c=${c} gateway p50 / p99 (ms)`, pair(o.gateway));
    figures.set(
      `c=${c} gateway overhead p50 / p99 (ms)`,
      pair([o.gateway[0] - o.direct[0], o.gateway[1] - o.direct[1]]),
    );
  });
}

function addLoops(figures: Map<string, string>, loops: Map<string, LoopTimes>): void {
  for (const loop of [
    'reconciler',
    'autoscaler',
    'promotions',
    'builder',
    'metric-sampling',
    'metric-series',
  ]) {
    const t = loops.get(loop);
    figures.set(
      `${loop} pass: mean / p99 ≤ (ms)`,
      t ? `${ms(t.meanMs)} / ${t.p99AtMostMs === Infinity ? '>10000' : ms(t.p99AtMostMs)}` : 'n/a',
    );
  }
}

async function atScale(store: 'sqlite' | 'postgres', count: number): Promise<Result> {
  const place = await scratch(store);
  const figures = new Map<string, string>();
  const live = Math.ceil(count * LIVE_SHARE);
  figures.set('models / deployments / live', `${count} / ${count * 2} / ${live}+${PROMOTIONS}`);
  try {
    // A real push gives the bundle, config and build that every seeded deployment shares.
    let server = await up(place.home, place.url);
    const source = push(server, ECHO);
    await server.stop();
    const seedStore = openSeedStore(place.url, join(place.home, 'plinth.db'));
    const sourceDeployment = (await seedStore.getDeployment(source.deployment_id)) as Deployment;
    const seedStarted = performance.now();
    const models = await seedModels(seedStore, place.home, count, sourceDeployment);
    figures.set('seeding through the Store (s)', ((performance.now() - seedStarted) / 1000).toFixed(1));
    await seedStore.close();

    server = await up(place.home, place.url);
    figures.set('startup → /healthz (ms)', ms(server.healthzMs));
    const liveModels = models.slice(0, live);
    const wakeStarted = performance.now();
    await each(liveModels, 10, (m) =>
      call(server, 'PATCH', `/v1/models/${m.id}/deployments/production/autoscaling_settings`, {
        min_replica: 1,
      }),
    );
    figures.set('min_replica 1 on 5% → all READY (ms)', await untilLive(server, liveModels, wakeStarted));
    for (const m of models.slice(live, live + PROMOTIONS)) {
      await call(server, 'PATCH', `/v1/models/${m.id}/environments/production`, {
        promotion_settings: { ramp_up_while_promoting: true, ramp_up_duration_seconds: 3600 },
      });
      await call(server, 'POST', `/v1/models/${m.id}/environments/production/promote`, {
        deployment_id: m.deployments[0],
      });
    }
    await sleep(10_000);

    const before = await scrape(server.url);
    await sleep(WINDOW_S * 1000);
    const after = await scrape(server.url);
    figures.set('server RSS (MiB)', (rssBytes(server.pid) / MiB).toFixed(0));
    addLoops(figures, loopTimes(before, after));
    const buckets = metricValue(after, 'plinth_metric_series_buckets');
    figures.set(
      'series buckets in memory (≈ MiB)',
      buckets === null ? 'n/a' : `${buckets} (≈ ${(buckets / bucketsPerMiB()).toFixed(1)})`,
    );

    const whole = await latency(server, 200, () => '/v1/models');
    figures.set('GET /v1/models, all: p50 / p99 (ms)', pair(whole));
    figures.set(
      'GET /v1/models?limit=100: p50 / p99 (ms)',
      pair(await latency(server, 200, () => '/v1/models?limit=100')),
    );
    let i = 0;
    const deploymentGet = await latency(server, 300, () => {
      const m = models[(i++ * 7919) % models.length]!;
      return `/v1/models/${m.id}/deployments/${m.deployments[i % 2]}`;
    });
    figures.set('GET a deployment: p50 / p99 (ms)', pair(deploymentGet));
    addOverhead(
      figures,
      gatewayOverhead(server, liveModels[0]!.id, await liveReplica(server, liveModels[0]!.id)),
    );

    await server.stop();
    const restarted = performance.now();
    server = await up(place.home, place.url);
    figures.set('restart → /healthz (ms)', ms(server.healthzMs));
    figures.set('restart → live models READY (ms)', await untilLive(server, liveModels, restarted));
    await server.stop();
    return { label: `${count} models`, figures };
  } finally {
    await place.drop();
  }
}

function printTable(title: string, results: Result[]): void {
  // In the order the fullest column gives them.
  const rows = [
    ...new Set([...results.at(-1)!.figures.keys(), ...results.flatMap((r) => [...r.figures.keys()])]),
  ];
  const width = Math.max(...rows.map((r) => r.length));
  const cols = results.map((r) => Math.max(r.label.length, ...[...r.figures.values()].map((v) => v.length)));
  console.log(`\n## ${title}`);
  console.log(['figure'.padEnd(width), ...results.map((r, i) => r.label.padStart(cols[i]!))].join(' | '));
  for (const row of rows) {
    console.log(
      [row.padEnd(width), ...results.map((r, i) => (r.figures.get(row) ?? '').padStart(cols[i]!))].join(
        ' | ',
      ),
    );
  }
}

const git = (...a: string[]): string =>
  spawnSync('git', ['-C', TARGET, ...a], { encoding: 'utf8' }).stdout.trim();
const dirty = git('status', '--porcelain', '--untracked-files=no') ? ' + uncommitted changes' : '';
const commit = git('log', '-1', '--format=%h') ? `${git('log', '-1', '--format=%h')}${dirty}` : TARGET;
console.log(
  `# scale benchmark: ${availableParallelism()} CPUs, load ${loadavg()[0]!.toFixed(1)} at start, node ${process.version}, measuring ${commit}`,
);
for (const store of STORES) {
  const results = [await emptyServer(store)];
  for (const count of SIZES) {
    results.push(await atScale(store, count));
    // Each column as soon as it is measured (a long run keeps what it found).
    if (count !== SIZES.at(-1)) printTable(`store: ${store} (so far)`, results);
  }
  printTable(`store: ${store}`, results);
}
console.log(`\nload ${loadavg()[0]!.toFixed(1)} at the end`);

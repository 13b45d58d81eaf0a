// Push-to-ACTIVE time of examples/hello and idle memory, against baselines measured in the same
// run: a bare replica process started by hand (start → ready) and a bare Node HTTP server's RSS.
// Run: npm run bench:startup [-- --pushes 5]
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO, rssBytes, startBenchPlatform } from './platform.ts';

const pushesArg = process.argv.indexOf('--pushes');
const pushes = pushesArg === -1 ? 5 : Number(process.argv[pushesArg + 1]);
const MiB = 1024 * 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Baseline: the Node model server on examples/hello straight from its TypeScript sources through
 * tsx (no build step, no bundle), started by hand and polled until ready. */
async function bareReplicaStartMs(): Promise<{ ms: number; rss: number }> {
  const app = mkdtempSync(join(tmpdir(), 'plinth-bare-'));
  cpSync(join(REPO, 'examples', 'hello'), app, { recursive: true });
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      fileURLToPath(new URL('../src/replica/node/main.ts', import.meta.url)),
    ],
    {
      cwd: app,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        PLINTH_APP_DIR: app,
        PLINTH_MODEL_FILE: 'model/model.ts',
        PLINTH_CONFIG_JSON: '{}',
        PLINTH_LISTEN: '0',
      },
    },
  );
  const address = await new Promise<string>((resolve) => {
    child.stdout!.on('data', (c: Buffer) => {
      const m = /listening on (\S+)/.exec(c.toString());
      if (m) resolve(m[1]!);
    });
  });
  for (;;) {
    const ok = await fetch(`http://${address}/v1/models/model`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(5);
  }
  const ms = performance.now() - started;
  await sleep(1500);
  const rss = rssBytes(child.pid!);
  child.kill('SIGTERM');
  rmSync(app, { recursive: true, force: true });
  return { ms, rss };
}

function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, [
    '-e',
    "require('http').createServer((q,s)=>s.end()).listen(0); setInterval(()=>{},1e6)",
  ]);
  return sleep(1500).then(() => {
    const rss = rssBytes(child.pid!);
    child.kill();
    return rss;
  });
}

function childPids(pid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
}

const bare = [];
for (let i = 0; i < 3; i++) bare.push(await bareReplicaStartMs());
const bareRss = await bareNodeRss();

const platform = await startBenchPlatform();
try {
  await sleep(1000);
  const serverIdleBefore = rssBytes(platform.pid);
  const cliMs: number[] = [];
  const serverMs: number[] = [];
  for (let i = 0; i < pushes; i++) {
    const { json, wallMs } = platform.push(join(REPO, 'examples', 'hello'), [
      '--deployment-name',
      `bench-${i + 1}`,
    ]);
    cliMs.push(wallMs);
    const events = await platform.api<{ events: { time: string; to: string }[] }>(
      `/v1/models/${json.model_id}/deployments/${json.deployment_id}/events`,
    );
    const created = Date.parse(events.events[0]!.time);
    const active = Date.parse(events.events.find((e) => e.to === 'ACTIVE')!.time);
    serverMs.push(active - created);
  }
  await sleep(3000);
  const serverIdle = rssBytes(platform.pid);
  const replicaRss = childPids(platform.pid)
    .map(rssBytes)
    .filter((x) => !Number.isNaN(x));

  console.log(`# startup and memory: examples/hello, ${pushes} pushes, node ${process.version}`);
  console.log(
    `push → ACTIVE, CLI wall time (pack, upload, build, start, load, poll):  median ${median(cliMs).toFixed(0)} ms  (${cliMs.map((x) => x.toFixed(0)).join(', ')})`,
  );
  console.log(
    `push → ACTIVE, server side (deployment created → ACTIVE event):       median ${median(serverMs).toFixed(0)} ms  (${serverMs.join(', ')})`,
  );
  console.log(
    `baseline: model server from its TS sources via tsx, start → ready:      median ${median(bare.map((b) => b.ms)).toFixed(0)} ms`,
  );
  console.log(
    `idle server RSS: ${(serverIdleBefore / MiB).toFixed(1)} MiB before any push, ${(serverIdle / MiB).toFixed(1)} MiB with ${pushes} deployments`,
  );
  console.log(
    `idle Node replica RSS: median ${(median(replicaRss) / MiB).toFixed(1)} MiB over ${replicaRss.length} replicas`,
  );
  console.log(
    `baseline: model server from TS sources via tsx ${(median(bare.map((b) => b.rss)) / MiB).toFixed(1)} MiB; bare node http server ${(bareRss / MiB).toFixed(1)} MiB`,
  );
} finally {
  await platform.stop();
}

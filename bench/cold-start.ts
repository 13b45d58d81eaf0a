// Cold start: a request at zero replicas, timed from arrival to answer, minus what the replica
// reports for importing the model and running load() — the platform's own share — for a
// TypeScript and a Python model. Baseline in the same run: a bare process start to a listening
// socket. Run: node --import tsx bench/cold-start.ts [--runs 3]
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { resolvePython } from '../src/builder/python-interpreters.ts';
import { REPO, startBenchPlatform } from './platform.ts';

const runsArg = process.argv.indexOf('--runs');
const runs = runsArg === -1 ? 3 : Number(process.argv[runsArg + 1]);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Process start → a socket that accepts, for a bare interpreter. */
async function bareListenMs(command: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  const ms = performance.now() - t0;
  child.kill();
  return ms;
}

const platform = await startBenchPlatform();
try {
  const rows: string[] = [];
  for (const [label, dir] of [
    ['TypeScript (bench/models/echo)', join(REPO, 'bench', 'models', 'echo')],
    ['Python (bench/models/py-echo)', join(REPO, 'bench', 'models', 'py-echo')],
  ] as const) {
    const { json } = platform.push(dir);
    const base = `/v1/models/${json.model_id}/deployments/${json.deployment_id}`;
    await fetch(`${platform.url}${base}/autoscaling_settings`, {
      method: 'PATCH',
      headers: { authorization: `Api-Key ${platform.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ min_replica: 0, autoscaling_window: 1, scale_down_delay: 0 }),
    });
    const total: number[] = [];
    const own: number[] = [];
    for (let i = 0; i < runs; i++) {
      for (;;) {
        const d = await platform.api<{ status: string; active_replica_count: number }>(base);
        if (d.status === 'SCALED_TO_ZERO' && d.active_replica_count === 0) break;
        await sleep(200);
      }
      await sleep(500); // let the old replica finish exiting
      const t0 = performance.now();
      const res = await fetch(`${platform.url}/models/${json.model_id}/production/predict`, {
        method: 'POST',
        headers: platform.auth,
        body: '{}',
      });
      await res.text();
      total.push(performance.now() - t0);
      await sleep(300);
      const logs = await platform.api<{ logs: { message: string }[] }>(
        `${base}/logs?search=model%20loaded&limit=10000`,
      );
      const m = /import ([\d.]+) ms, load\(\) ([\d.]+) ms/.exec(logs.logs.at(-1)!.message)!;
      own.push(Number(m[1]) + Number(m[2]));
    }
    const share = total.map((t, i) => t - own[i]!);
    rows.push(
      `${label.padEnd(32)} | ${median(total).toFixed(0).padStart(8)} ms | ${median(own).toFixed(0).padStart(8)} ms | ${median(share).toFixed(0).padStart(8)} ms | ${share.map((x) => x.toFixed(0)).join(', ')}`,
    );
  }
  const python = resolvePython('py311');
  const node = await bareListenMs(process.execPath, [
    '-e',
    "require('http').createServer().listen(0, () => console.log('up'))",
  ]);
  const py = await bareListenMs(python, [
    '-c',
    "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); print('up', flush=True); import time; time.sleep(5)",
  ]);
  console.log(`# cold start at zero replicas, ${runs} runs each (median)`);
  console.log(
    'model                            |    total    | model own  | platform   | platform, each run',
  );
  for (const r of rows) console.log(r);
  console.log(
    `baseline: bare process start → listening socket: node ${node.toFixed(0)} ms, python ${py.toFixed(0)} ms`,
  );
} finally {
  await platform.stop();
}

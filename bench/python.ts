// The Python model server: replica start → ready for examples/iris, per-request overhead against
// calling predict() in-process, and idle RSS with a model that imports nothing — each against a
// baseline measured in the same run. Run: npm run bench:python
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { resolvePython } from '../src/builder/python-interpreters.ts';
import { ensureTool, REPO, rssBytes, startBenchPlatform } from './platform.ts';
import { startPythonServer } from './python-server.ts';
import { runWrk } from './wrk.ts';

const MiB = 1024 * 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function inProcess(python: string, appDir: string, code: string): string {
  const r = spawnSync(python, ['-c', code], {
    cwd: appDir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

const wrk = ensureTool('wrk', 'wrk');
const python = resolvePython('py311');

// 1. examples/iris: its venv comes from a real push.
const platform = await startBenchPlatform();
let irisPython = python;
try {
  platform.push(join(REPO, 'examples', 'iris'));
  const envs = join(platform.home, 'environments');
  const venv = readdirSync(envs).find((d) => d.startsWith('python-') && existsSync(join(envs, d, 'lib')));
  irisPython = join(envs, venv!, 'bin', 'python');
  const iris = join(REPO, 'examples', 'iris');
  const starts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await startPythonServer(irisPython, iris, { runtime: { predict_concurrency: 4 } });
    starts.push(s.readyMs);
    await s.stop();
  }
  const baseline = inProcess(
    irisPython,
    iris,
    'import time,importlib.util as u; t=time.perf_counter(); s=u.spec_from_file_location("m","model/model.py"); m=u.module_from_spec(s); s.loader.exec_module(m); x=m.Model(); x.load(); print((time.perf_counter()-t)*1000)',
  );
  console.log('# Python model server');
  console.log(
    `examples/iris replica start → ready: median ${median(starts).toFixed(0)} ms (${starts.map((x) => x.toFixed(0)).join(', ')})`,
  );
  console.log(
    `baseline: import model.py and run load() in one python process: ${Number(baseline).toFixed(0)} ms`,
  );
} finally {
  await platform.stop();
}

// 2. Per-request overhead and 3. idle memory, with a model that imports nothing.
const echo = join(REPO, 'bench', 'models', 'py-echo');
const server = await startPythonServer(python, echo, { runtime: { predict_concurrency: 64 } });
await sleep(1500);
const idleRss = rssBytes(server.pid);
const callUs = Number(
  inProcess(
    python,
    echo,
    'import json,time,importlib.util as u; s=u.spec_from_file_location("m","model/model.py"); m=u.module_from_spec(s); s.loader.exec_module(m); x=m.Model(); b=b"{\\"text\\": \\"benchmark payload\\"}"; n=20000; t=time.perf_counter()\nfor _ in range(n): json.dumps(x.predict(json.loads(b)))\nprint((time.perf_counter()-t)/n*1e6)',
  ),
);
const c1 = runWrk(wrk, `http://${server.address}/v1/models/model:predict`, 1, 5);
const c16 = runWrk(wrk, `http://${server.address}/v1/models/model:predict`, 16, 5);
await server.stop();
const bare = spawn(python, ['-c', 'import time; time.sleep(30)']);
await sleep(1000);
const bareRss = rssBytes(bare.pid!);
bare.kill();
console.log(`in-process predict (json in, predict, json out): ${callUs.toFixed(1)} µs per call`);
console.log(
  `through the model server, c=1: p50 ${(c1.p50Ms * 1000).toFixed(0)} µs, ${c1.rps.toFixed(0)} req/s → overhead ≈ ${(c1.p50Ms * 1000 - callUs).toFixed(0)} µs per request`,
);
console.log(
  `through the model server, c=16: p50 ${(c16.p50Ms * 1000).toFixed(0)} µs, ${c16.rps.toFixed(0)} req/s, errors ${c16.errors}`,
);
console.log(
  `idle Python replica RSS (model imports nothing): ${(idleRss / MiB).toFixed(1)} MiB; baseline bare python: ${(bareRss / MiB).toFixed(1)} MiB`,
);

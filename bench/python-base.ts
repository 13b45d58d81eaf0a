// What Truss's base environment and the model server's Truss features cost a Python replica whose
// model uses neither: idle RSS and start → ready of the model server (bench/models/py-echo), rounds
// alternating, in one run, three ways: today's server from a venv layered over the base (its .pth
// file); today's server without the base; and the model server as it was before either (its files
// at BASELINE_REF, read from git) without the base — today's figures before this work. All are
// started directly with their venv's python, as a replica without a standby is.
// Run: npm run bench:python-base [-- --baseline REV]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { preparePythonBase } from '../src/builder/python-base.ts';
import { layerPythonBase } from '../src/builder/python-base-layer.ts';
import { resolvePython } from '../src/builder/python-interpreters.ts';
import { runCommand } from '../src/builder/run-command.ts';
import { REPO, rssBytes } from './platform.ts';
import { MODEL_SERVER, startPythonServer } from './python-server.ts';

const ROUNDS = 9;
/** The commit before the base environment and the Truss server features (issue 21). */
const at = process.argv.indexOf('--baseline');
const BASELINE_REF = at === -1 ? '6c10714' : process.argv[at + 1]!;
const ECHO = join(REPO, 'bench', 'models', 'py-echo');
const MiB = 1024 * 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The model server's Python files as they were at `ref`, in `dir`; its server.py. */
function serverAt(ref: string, dir: string): string {
  const folder = 'src/replica/python';
  const names = execFileSync('git', ['ls-tree', '--name-only', `${ref}:${folder}`], { cwd: REPO })
    .toString()
    .split('\n')
    .filter((n) => n.endsWith('.py'));
  mkdirSync(dir, { recursive: true });
  for (const name of names)
    writeFileSync(join(dir, name), execFileSync('git', ['show', `${ref}:${folder}/${name}`], { cwd: REPO }));
  return join(dir, 'server.py');
}

/** Start → ready, and resident memory once idle, of one start of `server` from `python`. */
async function measure(python: string, server = MODEL_SERVER): Promise<{ readyMs: number; rss: number }> {
  const started = await startPythonServer(python, ECHO, { runtime: { predict_concurrency: 4 } }, server);
  await sleep(1500);
  const rss = rssBytes(started.pid);
  await started.stop();
  return { readyMs: started.readyMs, rss };
}

async function venv(interpreter: string, dir: string): Promise<string> {
  const r = await runCommand(interpreter, ['-m', 'venv', '--without-pip', dir], {
    cwd: REPO,
    onLine: () => {},
  });
  if (r.code !== 0) throw new Error(r.tail.join('\n'));
  return dir;
}

const interpreter = resolvePython('py311');
const root = process.env.PLINTH_PYTHON_BASE_DIR ?? join(tmpdir(), 'plinth-test-python-base');
const base = await preparePythonBase({ root, interpreter, log: (line) => console.error(line) });
if (!base.ok) throw new Error(`the base environment could not be prepared: ${base.reason}`);
const scratch = mkdtempSync(join(tmpdir(), 'plinth-bench-pybase-'));
try {
  const plain = await venv(interpreter, join(scratch, 'plain'));
  const layered = await venv(interpreter, join(scratch, 'layered'));
  layerPythonBase(layered, base.dir);
  const before = serverAt(BASELINE_REF, join(scratch, 'server-before'));
  const runs = {
    before: [] as { readyMs: number; rss: number }[],
    without: [] as { readyMs: number; rss: number }[],
    with: [] as { readyMs: number; rss: number }[],
  };
  await measure(join(plain, 'bin', 'python'), before); // warm the page cache
  await measure(join(plain, 'bin', 'python'));
  await measure(join(layered, 'bin', 'python'));
  for (let i = 0; i < ROUNDS; i++) {
    runs.before.push(await measure(join(plain, 'bin', 'python'), before));
    runs.without.push(await measure(join(plain, 'bin', 'python')));
    runs.with.push(await measure(join(layered, 'bin', 'python')));
  }
  console.log(
    `# Python replica with Truss's base environment layered in (${base.dir}), Python ${interpreter}`,
  );
  for (const [name, rs] of Object.entries(runs)) {
    const ready = rs.map((r) => r.readyMs);
    const label = name === 'before' ? `server at ${BASELINE_REF}, no base` : `today's server, ${name} base`;
    console.log(
      `${label.padEnd(30)}: start → ready median ${median(ready).toFixed(0)} ms (${ready.map((x) => x.toFixed(0)).join(', ')}); idle RSS median ${(median(rs.map((r) => r.rss)) / MiB).toFixed(1)} MiB`,
    );
  }
  const signed = (x: number, digits: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
  for (const [from, to] of [
    ['without', 'with'],
    ['before', 'with'],
  ] as const) {
    const dReady = median(runs[to].map((r) => r.readyMs)) - median(runs[from].map((r) => r.readyMs));
    const dRss = (median(runs[to].map((r) => r.rss)) - median(runs[from].map((r) => r.rss))) / MiB;
    console.log(
      `${to} vs ${from}: ${signed(dReady, 0)} ms start → ready, ${signed(dRss, 1)} MiB idle RSS (aim: within +100 ms and +10 MB)`,
    );
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

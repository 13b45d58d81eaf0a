// Benchmark helpers: start a real `plinth up` in a scratch home, push a model, find tools.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFresh } from '../bin/dist-freshness.mjs';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(REPO, 'bin', 'plinth.js');

export interface BenchPlatform {
  url: string;
  port: number;
  home: string;
  pid: number;
  apiKey: string;
  /** The header that lets a bench call models (inference needs a key). */
  auth: { authorization: string };
  api<T>(path: string): Promise<T>;
  push(
    dir: string,
    extra?: string[],
  ): { json: { model_id: string; deployment_id: string; predict_url: string }; wallMs: number };
  stop(): Promise<void>;
}

/**
 * Builds dist/ when a source is newer: a stale bundle makes `plinth up` run the TypeScript
 * sources through tsx, which is slower, and a benchmark would time that instead.
 */
export function ensureBuilt(): void {
  if (isFresh(join(REPO, 'dist', 'cli.mjs'), join(REPO, 'src'))) return;
  console.error('dist/ is older than src/: building it first');
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('the build failed');
}

export async function startBenchPlatform(extraArgs: string[] = []): Promise<BenchPlatform> {
  ensureBuilt();
  // The control plane prepares Truss's Python base in the background at start: pip would compete
  // for the CPU being measured. The tests' prepared one is used (prepared once if it is not).
  process.env.PLINTH_PYTHON_BASE_DIR ??= join(tmpdir(), 'plinth-test-python-base');
  process.env.PIP_RETRIES ??= '0';
  const home = mkdtempSync(join(tmpdir(), 'plinth-bench-'));
  // PLINTH_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server under load;
  // PLINTH_BENCH_SERVER_OUT=FILE keeps its stdout (with --trace-gc, every collection).
  const nodeArgs = (process.env.PLINTH_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const serverOut = process.env.PLINTH_BENCH_SERVER_OUT;
  if (serverOut) writeFileSync(serverOut, '');
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, BIN, 'up', '--port', '0', '--home', home, ...extraArgs],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  let running = false;
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      if (serverOut) appendFileSync(serverOut, c);
      // Read until it says where it runs; after that only kept (or dropped), never scanned.
      if (running) return;
      out += c.toString();
      const m = /Plinth is running at (\S+)/.exec(out);
      if (m) {
        running = true;
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`plinth up exited ${code}: ${out}`)));
  });
  const apiKey = (JSON.parse(readFileSync(join(home, 'credentials.json'), 'utf8')) as { api_key: string })
    .api_key;
  const env = { ...process.env, PLINTH_URL: url, PLINTH_API_KEY: apiKey };
  return {
    url,
    port: Number(new URL(url).port),
    home,
    pid: child.pid!,
    apiKey,
    auth: { authorization: `Api-Key ${apiKey}` },
    async api<T>(path: string) {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Api-Key ${apiKey}` } });
      return (await res.json()) as T;
    },
    push(dir, extra = []) {
      const started = performance.now();
      const r = spawnSync(process.execPath, [BIN, 'push', dir, '--output', 'json', ...extra], {
        env,
        encoding: 'utf8',
      });
      const wallMs = performance.now() - started;
      if (r.status !== 0) throw new Error(`push failed: ${r.stderr}${r.stdout}`);
      return { json: JSON.parse(r.stdout), wallMs };
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Resident memory of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

export function which(command: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Finds a tool, installing its Debian package when missing and allowed (root). */
export function ensureTool(command: string, debianPackage: string): string {
  const found = which(command) ?? (existsExecutable(`/usr/sbin/${command}`) ? `/usr/sbin/${command}` : null);
  if (found) return found;
  console.error(`${command} not found; installing Debian package ${debianPackage}…`);
  spawnSync(
    'sh',
    ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${debianPackage}`],
    { stdio: 'inherit' },
  );
  const after = which(command) ?? (existsExecutable(`/usr/sbin/${command}`) ? `/usr/sbin/${command}` : null);
  if (!after) throw new Error(`${command} is needed for this benchmark: apt-get install ${debianPackage}`);
  return after;
}

function existsExecutable(path: string): boolean {
  return spawnSync('test', ['-x', path]).status === 0;
}

// Starts the real `plinth up` in a temporary home on a free port and runs the real CLI against it.
import { sleep, until } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTree } from '../support/write-tree.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(REPO, 'bin', 'plinth.js');
/**
 * Where every test platform keeps Truss's base Python environment (unless PLINTH_PYTHON_BASE_DIR
 * says): one per machine, shared by every test's temporary home, so that it is prepared once.
 */
export const PYTHON_BASE_DIR =
  process.env.PLINTH_PYTHON_BASE_DIR ?? join(tmpdir(), 'plinth-test-python-base');

export interface Platform {
  url: string;
  port: number;
  /** The server process's pid (its memory can be read from /proc). */
  pid: number;
  home: string;
  apiKey: string;
  output: () => string;
  /** Runs the CLI; `stdin` is written to it and closed (else it has none). */
  cli(
    args: string[],
    options?: { cwd?: string; stdin?: string },
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Starts a long-running CLI command (a watch); its output accumulates until it is stopped. */
  background(args: string[], options?: { cwd?: string }): Background;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Stops the server; the home (and its state) is removed unless `keepHome`. */
  stop(options?: { keepHome?: boolean }): Promise<void>;
  /** Kills the server with SIGKILL (a crash), keeping its home. */
  crash(): Promise<void>;
}

/**
 * Tests call models with fetch as users' clients do; the platform wants a key for inference. Each
 * started platform's admin key is added to inference fetches (not /v1) to its port that carry no
 * Authorization header of their own (an explicit header, even an empty one, is sent as it is).
 */
const keysByPort = new Map<string, string>();
const plainFetch = globalThis.fetch;
globalThis.fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
  const key =
    url.hostname.endsWith('localhost') || url.hostname === '127.0.0.1' ? keysByPort.get(url.port) : undefined;
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  if (key && !url.pathname.startsWith('/v1/') && !headers.has('authorization')) {
    headers.set('authorization', `Api-Key ${key}`);
    return plainFetch(input, { ...init, headers });
  }
  return plainFetch(input, init);
};

export interface Background {
  output(): string;
  /** Resolves once the output matches `pattern` (searched from `from` on); rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<void>;
  /** Sends SIGINT and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startPlatform(existingHome?: string, extraArgs: string[] = []): Promise<Platform> {
  const home = existingHome ?? mkdtempSync(join(tmpdir(), 'plinth-e2e-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, 'up', '--port', '0', '--home', home, ...extraArgs],
    {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      // This machine reaches no package index over the network; pip's retries would only add minutes.
      env: {
        PIP_RETRIES: '0',
        PIP_TIMEOUT: '5',
        PLINTH_PYTHON_BASE_DIR: PYTHON_BASE_DIR,
        ...process.env,
        PLINTH_HOME: home,
      },
    },
  );
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`plinth up did not start:\n${output}`)), 60_000);
    const check = (): void => {
      const m = /Plinth is running at (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`plinth up exited with ${code}:\n${output}`)));
  });
  const apiKey = (JSON.parse(readFileSync(join(home, 'credentials.json'), 'utf8')) as { api_key: string })
    .api_key;
  keysByPort.set(new URL(url).port, apiKey);
  const env: NodeJS.ProcessEnv = { ...process.env, PLINTH_HOME: home };
  delete env.PLINTH_URL;
  delete env.PLINTH_API_KEY;
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    home,
    apiKey,
    output: () => output,
    cli(args, options = {}) {
      // Asynchronous on purpose: a blocked event loop would hide how real clients keep connections.
      return new Promise((resolve) => {
        const c = spawn(process.execPath, [BIN, ...args], {
          cwd: options.cwd ?? REPO,
          env,
          stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        c.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        if (options.stdin !== undefined) c.stdin!.end(options.stdin);
        const timer = setTimeout(() => c.kill('SIGKILL'), 120_000);
        c.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    },
    background(args, options = {}) {
      const c = spawn(process.execPath, [BIN, ...args], {
        cwd: options.cwd ?? REPO,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const closed = new Promise<number | null>((r) => c.once('close', r));
      return {
        output: () => out,
        async waitFor(pattern, timeoutMs = 30_000, from = 0) {
          const until = Date.now() + timeoutMs;
          while (!pattern.test(out.slice(from))) {
            if (c.exitCode !== null)
              throw new Error(`the command exited (${c.exitCode}) before ${pattern}:\n${out}`);
            if (Date.now() > until) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}`);
            await sleep(100);
          }
        },
        async stop() {
          if (c.exitCode === null) c.kill('SIGINT');
          const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
          const code = await closed;
          clearTimeout(timer);
          return code;
        },
      };
    },
    async api<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Api-Key ${apiKey}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    },
    async crash() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    async stop(options = {}) {
      // A crashed (SIGKILLed) server has no exit code, only its signal.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!options.keepHome) rmSync(home, { recursive: true, force: true });
    },
  };
}

/** An HTTP POST with an explicit Host header (the host form, without DNS for *.localhost). */
export function postWithHost(
  port: number,
  host: string,
  path: string,
  body: string,
  authorization = `Api-Key ${keysByPort.get(String(port)) ?? ''}`,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { host, 'content-type': 'application/json', authorization },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface StreamedLines<T> {
  items: T[];
  /** When the first chunk was in the client's hands (Date.now()). */
  firstReceivedAtMs: number;
}

/** Reads a streamed response of JSON lines, noting when the first chunk arrived. */
export async function readJsonLines<T>(res: Response): Promise<StreamedLines<T>> {
  const reader = res.body!.getReader();
  let buffered = '';
  let firstReceivedAtMs = 0;
  const items: T[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (firstReceivedAtMs === 0) firstReceivedAtMs = Date.now();
    buffered += Buffer.from(value).toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      items.push(JSON.parse(buffered.slice(0, nl)) as T);
      buffered = buffered.slice(nl + 1);
    }
  }
  return { items, firstReceivedAtMs };
}

/**
 * Clients that send requests without pause (each waits for its answer) until stopped — or, should
 * a failed test never stop them, for at most `maxMs`, so that a test file always ends.
 */
export function load<T>(
  clients: number,
  send: () => Promise<T>,
  maxMs = 180_000,
): { answers: T[]; stop: () => Promise<T[]> } {
  let running = true;
  const deadline = Date.now() + maxMs;
  const answers: T[] = [];
  const loops = Array.from({ length: clients }, async () => {
    while (running && Date.now() < deadline) answers.push(await send());
  });
  return {
    answers,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

/** Polls `get` until `ok` holds (the one copy, test/support/wait.ts). */
export { until } from '../support/wait.ts';

/**
 * Pushes a model named `name` that answers `{version}` twice, from `dir`: deployment-1 (version 1)
 * serves production, deployment-2 (version 2) stands beside it, ready to be promoted.
 */
export async function pushTwoVersions(platform: Platform, dir: string, name: string): Promise<void> {
  const model = (v: number) => `export class Model { predict() { return { version: ${v} }; } }\n`;
  writeTree(dir, { 'config.yaml': `model_name: ${name}\n`, 'model/model.ts': model(1) });
  for (const v of [1, 2]) {
    writeTree(dir, { 'model/model.ts': model(v) });
    const pushed = await platform.cli(['push', dir]);
    if (pushed.code !== 0) throw new Error(`push of ${name} version ${v} failed: ${pushed.stderr}`);
  }
}

/** `plinth push DIR --output json` that must succeed: the ids it printed. */
export async function pushed(
  platform: Platform,
  dir: string,
  ...extra: string[]
): Promise<{ model_id: string; deployment_id: string }> {
  const r = await platform.cli(['push', dir, '--output', 'json', ...extra]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as { model_id: string; deployment_id: string };
}

/**
 * config.yaml for a fixture custom server (`python server.py $PORT`, stdlib only) named `name`,
 * with `extra` lines (secrets, …) before its docker_server block.
 */
export function stdlibServerConfig(name: string, extra: string[] = []): string {
  return [
    `model_name: ${name}`,
    ...extra,
    'docker_server:',
    '  start_command: python server.py $PORT',
    '  server_port: 8000',
    '  predict_endpoint: /predict',
    '  readiness_endpoint: /ready',
    '  liveness_endpoint: /live',
    '',
  ].join('\n');
}

/**
 * Two `plinth up` processes on one PostgreSQL store and one home: the first leads the control
 * loops (waited for), the second follows. Each is added to `started` as soon as it runs.
 */
export async function startTwoControlPlanes(
  home: string,
  storeUrl: string,
  started: Platform[],
): Promise<{ leader: Platform; follower: Platform }> {
  const store = ['--store', storeUrl];
  const leader = await startPlatform(home, store);
  started.push(leader);
  await until(
    'the first leads',
    async () => leader.output(),
    (out) => /Control plane: leading/.test(out),
    20_000,
  );
  const follower = await startPlatform(home, store);
  started.push(follower);
  await until(
    'the second follows',
    async () => follower.output(),
    (out) => /Control plane: following/.test(out),
    20_000,
  );
  return { leader, follower };
}

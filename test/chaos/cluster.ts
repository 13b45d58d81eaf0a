// The platform's processes as the chaos run starts, kills and restarts them: `plinth up` and
// `plinth gateway` on fixed ports (a restart comes back where clients call), each exit noted as
// asked for or not (invariant 3), plus the management API and CLI calls the operations make.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Crash } from './records.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'plinth.js');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 45_000;
const CLI_TIMEOUT_MS = 120_000;
const API_TIMEOUT_MS = 10_000;

export interface ProcessSpec {
  role: string;
  port: number;
  /** The `plinth` arguments (the same for every start). */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Exits nobody asked for go here. */
  crashes: Crash[];
  /** Output that says it serves. */
  readyPattern: RegExp;
  /** Every pid it has had (its replicas carry one as PLINTH_PARENT_PID). */
  pids: Set<number>;
}

/** One start of a platform process. */
export interface Incarnation {
  child: ChildProcess;
  pid: number;
  number: number;
  output: string;
  /** Set before the run kills or stops it: its exit is then not a crash. */
  expected: boolean;
  exited: Promise<void>;
  exitedAtMs: number | null;
  exitCode: number | null;
  /** The signal the run ended it with (SIGTERM: a graceful stop), if it did. */
  stoppedWith?: NodeJS.Signals;
  /** It said it serves. */
  ready: boolean;
}

/**
 * A platform process slot (`plinth up …` or `plinth gateway …`) that the run may kill and start
 * again with the same arguments, so on the same port, home and store.
 */
export class PlatformProcess {
  current: Incarnation | null = null;
  /** Every start, the current one last (their output, for the evidence of a failed run). */
  readonly history: Incarnation[] = [];
  private starts = 0;
  /** Says whether an exit nobody asked for is excused (a control plane that lost its lock). */
  excuse: (p: PlatformProcess, inc: Incarnation) => boolean = () => false;

  readonly role: string;
  readonly port: number;

  constructor(private readonly spec: ProcessSpec) {
    this.role = spec.role;
    this.port = spec.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Started, said it serves, and not exited since. */
  alive(): boolean {
    return this.current !== null && this.current.ready && this.current.exitedAtMs === null;
  }

  output(): string {
    return this.current?.output ?? '';
  }

  /** Starts it and resolves once it says it serves; rejects (and kills it) after a minute. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [BIN, ...this.spec.args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.spec.env,
    });
    if (child.pid) this.spec.pids.add(child.pid);
    const inc: Incarnation = {
      child,
      pid: child.pid ?? 0,
      number: this.starts++,
      output: '',
      expected: false,
      exited: new Promise((r) => child.once('exit', () => r())),
      exitedAtMs: null,
      exitCode: null,
      ready: false,
    };
    this.current = inc;
    this.history.push(inc);
    const append = (c: Buffer): void => {
      inc.output += c.toString();
      if (inc.output.length > 200_000) inc.output = inc.output.slice(-100_000);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    child.once('exit', (code, signal) => {
      inc.exitedAtMs = Date.now();
      inc.exitCode = code;
      if (inc.expected || this.excuse(this, inc)) return;
      this.spec.crashes.push({
        process: this.role,
        atMs: inc.exitedAtMs,
        code,
        signal,
        outputTail: inc.output.slice(-2000),
      });
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!this.spec.readyPattern.test(inc.output)) {
      if (inc.exitedAtMs !== null)
        throw new Error(`${this.role} exited while starting:\n${inc.output.slice(-2000)}`);
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(
          `${this.role} did not start within ${START_TIMEOUT_MS} ms:\n${inc.output.slice(-2000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    inc.ready = true;
  }

  /** Sends `signal` (an expected exit) and waits for the exit, at most STOP_TIMEOUT_MS (then SIGKILL). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const inc = this.current;
    if (!inc || inc.exitedAtMs !== null) return;
    inc.expected = true;
    inc.stoppedWith = signal;
    inc.ready = false;
    inc.child.kill(signal);
    const timer = setTimeout(() => inc.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await inc.exited;
    clearTimeout(timer);
  }

  /** A graceful stop (SIGTERM), as a user's Ctrl-C. */
  stop(): Promise<void> {
    return this.kill('SIGTERM');
  }
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

/** A management API call with the admin key; a connection failure answers status 0. */
export async function callApi<T = unknown>(
  baseUrl: string,
  apiKey: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = API_TIMEOUT_MS,
): Promise<ApiAnswer<T>> {
  try {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Api-Key ${apiKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (/metrics)
    }
    return { status: res.status, body: parsed as T };
  } catch (err) {
    return { status: 0, body: { error: { code: 'CONNECTION', message: (err as Error).message } } as T };
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `plinth` CLI against `url` (killed after two minutes). */
export function runCli(args: string[], url: string, apiKey: string, home: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PLINTH_HOME: home,
      PLINTH_URL: url,
      PLINTH_API_KEY: apiKey,
    };
    const c = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), CLI_TIMEOUT_MS);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function readApiKey(home: string): string {
  return (JSON.parse(readFileSync(join(home, 'credentials.json'), 'utf8')) as { api_key: string }).api_key;
}

/** The platform's environment for its processes: no pip retries (no network here), no stray URL. */
export function platformEnv(home: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PIP_RETRIES: '0', PIP_TIMEOUT: '5', ...process.env };
  if (home) env.PLINTH_HOME = home;
  delete env.PLINTH_URL;
  delete env.PLINTH_API_KEY;
  delete env.PLINTH_STORE;
  return env;
}

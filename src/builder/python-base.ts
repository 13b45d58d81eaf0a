// Truss's server environment, shared by every Python model: one venv per interpreter holding the
// packages Truss's server image has (fastapi, pydantic, numpy, …), which Truss models import
// without listing them. Prepared once per machine and reused by every build (a ready marker is
// written last; it is built aside and renamed into place, so a half-built one is never used);
// concurrent builds in this process share one preparation, other processes wait on a lock file.
// It is layered UNDER a deployment's venv (`python-base-layer.ts`), so the deployment's pins win.
// A preparation that fails (no package index) is reported as a value, never thrown: builds go on
// without it, and the next one tries again.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BuildLog } from './node-environment.ts';
import { tryLock, unlock } from './process-lock.ts';
import { runCommand } from './run-command.ts';

/**
 * What Truss's server image has, pinned to their majors (0.x: the range fastapi's own pins accept).
 * Each line resolves on Python 3.9–3.13 from PyPI; pip picks the newest release of each that the
 * interpreter supports.
 */
export const PYTHON_BASE_PACKAGES: readonly string[] = Object.freeze([
  'fastapi>=0.110,<1',
  'starlette>=0.37,<2',
  'pydantic>=2,<3',
  'numpy>=1.24,<3',
  'requests>=2.31,<3',
  'aiohttp>=3.9,<4',
  'pyyaml>=6,<7',
  'msgpack>=1,<2',
  'prometheus_client>=0.20,<1',
]);

const READY_MARKER = '.plinth-ready';
/** How long a build waits for another process preparing the same environment before going on without it. */
const WAIT_LIMIT_MS = 20 * 60_000;
const POLL_MS = 250;

export type PythonBaseResult = { ok: true; dir: string } | { ok: false; dir: string; reason: string };

export interface PythonBaseOptions {
  /** Where base environments live (`PLINTH_PYTHON_BASE_DIR`, else `<home>/python-base`). */
  root: string;
  /** The real interpreter path the deployment's venv is made from. */
  interpreter: string;
  /** Default PYTHON_BASE_PACKAGES (tests use fewer). */
  packages?: readonly string[];
  log: BuildLog;
}

const inProgress = new Map<string, Promise<PythonBaseResult>>();
/** The commands preparing base environments now, stopped when the server closes. */
const running = new Set<number>();
let stopping = false;

/** `<root>/python3.11-<hash of interpreter and packages>`. */
export function pythonBaseDir(
  root: string,
  interpreter: string,
  packages: readonly string[] = PYTHON_BASE_PACKAGES,
): string {
  const hash = createHash('sha256')
    .update(`${interpreter}\0${packages.join('\n')}`)
    .digest('hex')
    .slice(0, 16);
  const version = /python(3\.\d+)$/.exec(interpreter)?.[1] ?? '';
  return join(root, `python${version}-${hash}`);
}

export function isPythonBaseReady(dir: string): boolean {
  return existsSync(join(dir, READY_MARKER));
}

/** The names of the packages, without their pins, for log lines. */
export function basePackageNames(packages: readonly string[] = PYTHON_BASE_PACKAGES): string {
  return packages.map((p) => p.split(/[<>=!~ ;[]/)[0]).join(', ');
}

/**
 * The base environment for `interpreter`, prepared now if it is not yet (the only time a build
 * waits for it). Never rejects.
 */
export function preparePythonBase(options: PythonBaseOptions): Promise<PythonBaseResult> {
  const packages = options.packages ?? PYTHON_BASE_PACKAGES;
  const dir = pythonBaseDir(options.root, options.interpreter, packages);
  if (isPythonBaseReady(dir)) {
    options.log(`Truss's base environment: reusing ${dir}`);
    return Promise.resolve({ ok: true, dir });
  }
  let pending = inProgress.get(dir);
  if (pending) options.log(`Truss's base environment: waiting for its preparation in ${dir}`);
  else {
    pending = prepareOnce(dir, options.interpreter, packages, options.log)
      .catch((err: Error): PythonBaseResult => ({ ok: false, dir, reason: err.message }))
      .finally(() => inProgress.delete(dir));
    inProgress.set(dir, pending);
  }
  return pending;
}

async function prepareOnce(
  dir: string,
  interpreter: string,
  packages: readonly string[],
  log: BuildLog,
): Promise<PythonBaseResult> {
  // Replica users read it (0755 dirs, 0644 files, the server's), whatever the umask.
  if (mkdirSync(dirname(dir), { recursive: true }) !== undefined) chmodSync(dirname(dir), 0o755);
  const lock = `${dir}.lock`;
  const until = Date.now() + WAIT_LIMIT_MS;
  let waiting = false;
  for (;;) {
    if (isPythonBaseReady(dir)) {
      log(`Truss's base environment: ready (prepared by another process): ${dir}`);
      return { ok: true, dir };
    }
    if (tryLock(lock)) {
      try {
        if (isPythonBaseReady(dir)) return { ok: true, dir };
        await build(dir, interpreter, packages, log);
        return { ok: true, dir };
      } finally {
        unlock(lock);
      }
    }
    if (stopping) return { ok: false, dir, reason: 'the server is closing' };
    if (!waiting) log(`Truss's base environment: another process is preparing ${dir}; waiting for it`);
    waiting = true;
    if (Date.now() > until)
      return { ok: false, dir, reason: `another process has been preparing ${dir} for 20 minutes` };
    await sleep(POLL_MS);
  }
}

/** Builds the environment aside, marks it ready, then renames it into place (holding the lock). */
async function build(
  dir: string,
  interpreter: string,
  packages: readonly string[],
  log: BuildLog,
): Promise<void> {
  // What a crashed holder left: a half-built one, and its staging directories.
  await rm(dir, { recursive: true, force: true });
  const prefix = `${basename(dir)}.partial-`;
  for (const name of readdirSync(dirname(dir)))
    if (name.startsWith(prefix)) await rm(join(dirname(dir), name), { recursive: true, force: true });
  const staging = `${dir}.partial-${process.pid}-${Date.now()}`;
  const started = Date.now();
  log(`Truss's base environment: preparing ${basePackageNames(packages)} for ${interpreter} in ${dir}`);
  try {
    await run(interpreter, ['-m', 'venv', staging], 'python -m venv', log);
    const file = join(staging, 'plinth-requirements.txt');
    writeFileSync(file, packages.join('\n') + '\n');
    await run(
      join(staging, 'bin', 'python'),
      ['-m', 'pip', 'install', '--progress-bar', 'off', '-r', file],
      'pip install',
      log,
    );
    writeFileSync(join(staging, READY_MARKER), new Date().toISOString(), { mode: 0o644 });
    renameSync(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  log(`Truss's base environment: ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${dir}`);
}

async function run(command: string, args: string[], what: string, log: BuildLog): Promise<void> {
  if (stopping) throw new Error('the server is closing');
  log(`$ ${[command, ...args].join(' ')}`);
  let pid = 0;
  const result = await runCommand(command, args, {
    cwd: process.cwd(),
    env: { ...process.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
    onLine: (line) => log(`  ${line}`),
    onSpawn: (spawned) => running.add((pid = spawned)),
  });
  running.delete(pid);
  if (result.code === 0) return;
  const errors = result.tail.filter((l) => /^ERROR:/.test(l.trim()));
  const said = (errors.length > 0 ? errors : result.tail.slice(-3))
    .slice(0, 3)
    .map((l) => l.trim())
    .join(' | ');
  throw new Error(`${what} failed (exit ${result.code}): ${said}`);
}

/**
 * Prepares the base environment of the default interpreter in the background (`plinth up`), so
 * that the first push usually finds it ready. A failure is only said; builds try again.
 */
export function preparePythonBaseInBackground(root: string, interpreter: string | null): void {
  if (!interpreter) return;
  void preparePythonBase({ root, interpreter, log: () => {} }).then((result) => {
    if (!result.ok)
      console.error(
        `plinth: Truss's base Python environment (${basePackageNames()}) could not be prepared in ${result.dir}: ${result.reason}; each Python build tries again`,
      );
  });
}

/** Stops the preparations running in this process (the server is closing) and waits for them to end. */
export async function stopPythonBasePreparations(): Promise<void> {
  stopping = true;
  try {
    for (const pid of running) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all([...inProgress.values()]);
  } finally {
    stopping = false;
  }
}

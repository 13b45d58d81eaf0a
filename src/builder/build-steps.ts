// Truss's `build_commands`: shell commands run at build with the Python environment active, cached
// with that environment. As in Truss's image (each is a `RUN` in /app before the model's files are
// copied in), they run once per environment in its own app directory, `<env>/app`, which starts
// empty; what they leave there is linked into every app directory built on that environment, under
// its own top-level name (a name the bundle already has is the bundle's). A failing command fails
// the build with its exit code and last lines; each has a time limit. Never run for anything but
// the environment being built.
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BuildError } from './node-environment.ts';
import type { BuildLog } from './node-environment.ts';
import { runCommand } from './run-command.ts';

/** The directory build commands run in, inside the environment they are cached with. */
export const buildStepsDir = (envDir: string): string => join(envDir, 'app');

/** Default time limit of one build command: 30 minutes. */
export const DEFAULT_BUILD_STEP_TIMEOUT_S = 1800;
/** Lines of one command's output written to the build log; the rest are counted, not kept. */
export const MAX_LOGGED_LINES = 20_000;

/** `PLINTH_BUILD_STEP_TIMEOUT_S` (seconds, > 0) or the default. */
export function buildStepTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PLINTH_BUILD_STEP_TIMEOUT_S;
  const seconds = raw === undefined || raw === '' ? NaN : Number(raw);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_BUILD_STEP_TIMEOUT_S) * 1000;
}

/** The environment a command sees: the venv active (first on PATH, VIRTUAL_ENV), pip quiet. */
export function activeEnvironment(envDir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    VIRTUAL_ENV: envDir,
    PATH: `${join(envDir, 'bin')}:${base.PATH ?? '/usr/bin:/bin'}`,
    PIP_NO_INPUT: '1',
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
  };
  delete env.PYTHONHOME;
  return env;
}

/** Runs the commands in order in `<envDir>/app`; the first that fails throws a BuildError. */
export async function runBuildCommands(
  commands: readonly string[],
  envDir: string,
  log: BuildLog,
  options: {
    timeoutMs?: number;
    /** Told each command's pid (it leads its process group, and its command line names envDir). */
    onSpawn?: (pid: number) => void;
  } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? buildStepTimeoutMs();
  const cwd = buildStepsDir(envDir);
  mkdirSync(cwd, { recursive: true });
  const env = activeEnvironment(envDir);
  for (const [i, command] of commands.entries()) {
    log(`build_commands[${i}]: $ ${command}`);
    let logged = 0;
    // `$0` and `$1` name the step and the environment, so that a crashed server's successor can
    // tell this process from one that reused its pid (python-environment.ts).
    const result = await runCommand('/bin/sh', ['-c', command, 'plinth-build-step', envDir], {
      cwd,
      env,
      timeoutMs,
      onSpawn: options.onSpawn,
      onLine: (line, stream) => {
        if (++logged <= MAX_LOGGED_LINES)
          log(line, stream === 'stderr' && /error/i.test(line) ? 'ERROR' : 'INFO');
      },
    });
    if (logged > MAX_LOGGED_LINES) log(`… ${logged - MAX_LOGGED_LINES} more lines not logged`);
    if (result.code !== 0) {
      const said = result.tail
        .slice(-5)
        .map((l) => l.trim())
        .filter(Boolean)
        .join(' | ');
      const how = result.timedOut
        ? `ran past its time limit (${Math.round(timeoutMs / 1000)} s, PLINTH_BUILD_STEP_TIMEOUT_S)`
        : `failed (exit ${result.code})`;
      throw new BuildError(`build_commands[${i}] \`${command}\` ${how}${said ? `: ${said}` : ''}`);
    }
  }
}

/**
 * Links what the build commands left in `<envDir>/app` into `appDir`, one link per top-level name
 * the bundle does not have. Links made before (a development rebuild) are replaced; the bundle's
 * own files are never touched. Returns the names linked.
 */
export function linkBuildOutputs(envDir: string, appDir: string): string[] {
  const outputs = buildStepsDir(envDir);
  // Links an earlier build made (into this environment or another one) go first.
  const ours = (path: string): boolean => {
    const stat = lstatOrNull(path);
    return (
      stat?.isSymbolicLink() === true &&
      dirname(dirname(dirname(readlinkSync(path)))) === dirname(envDir) &&
      basename(dirname(readlinkSync(path))) === 'app'
    );
  };
  for (const name of readdirSync(appDir))
    if (ours(join(appDir, name))) rmSync(join(appDir, name), { force: true });
  if (!existsSync(outputs)) return [];
  const linked: string[] = [];
  for (const name of readdirSync(outputs).sort()) {
    const link = join(appDir, name);
    // The bundle's own file or folder of that name wins, as the model's files do in Truss's image.
    if (lstatOrNull(link)) continue;
    symlinkSync(join(outputs, name), link);
    linked.push(name);
  }
  return linked;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

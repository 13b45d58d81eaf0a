// Prepares a Python model's environment: one venv per (interpreter, requirements, build_commands)
// hash, made with `python -m venv` and `pip install` (the host's pip configuration decides where
// packages come from), then the build commands run in it (build-steps.ts). A venv is built in
// place and marked ready last, so a half-built one is rebuilt.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ModelConfig } from '../config/schema.ts';
import { BuildError } from './node-environment.ts';
import type { BuildLog } from './node-environment.ts';
import { resolvePython } from './python-interpreters.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand } from './run-command.ts';
import { linkBuildOutputs, runBuildCommands } from './build-steps.ts';
import { readRequirementsFile } from './requirements-file.ts';

const READY_MARKER = '.plinth-ready';
const inProgress = new Map<string, Promise<void>>();

/** The requirement lines of a model: `requirements`, or those of `requirements_file`. */
export async function requirementsOf(appDir: string, config: ModelConfig): Promise<string[]> {
  const lines = [...config.requirements];
  if (config.requirements_file) lines.push(...(await readRequirementsFile(appDir, config.requirements_file)));
  return lines;
}

/**
 * The cache key of a venv: interpreter, requirements and build commands (none: the key it had
 * before build commands were run, so existing environments stay valid).
 */
export function pythonEnvironmentHash(
  interpreter: string,
  requirements: readonly string[],
  buildCommands: readonly string[] = [],
): string {
  const hash = createHash('sha256').update(`${interpreter}\0${requirements.join('\n')}`);
  if (buildCommands.length > 0) hash.update(`\0build_commands\0${JSON.stringify(buildCommands)}`);
  return hash.digest('hex').slice(0, 16);
}

/** Returns the venv directory; its bin/python runs the replica. */
export async function preparePythonEnvironment(
  appDir: string,
  config: ModelConfig,
  envsRoot: string,
  log: BuildLog,
): Promise<string> {
  const interpreter = resolvePython(config.python_version);
  const requirements = await requirementsOf(appDir, config);
  const commands = config.build_commands;
  const envDir = join(envsRoot, `python-${pythonEnvironmentHash(interpreter, requirements, commands)}`);
  let pending = inProgress.get(envDir);
  if (!pending) {
    pending = buildVenv(interpreter, requirements, commands, envDir, log).finally(() =>
      inProgress.delete(envDir),
    );
    inProgress.set(envDir, pending);
  } else log(`waiting for another build of ${envDir}`);
  await pending;
  const linked = linkBuildOutputs(envDir, appDir);
  if (linked.length > 0) log(`build_commands output linked into the app: ${linked.join(', ')}`);
  return envDir;
}

/** Where the pid of the command building an environment is kept while it runs. */
const builderFile = (envDir: string): string => `${envDir}.builder`;

/**
 * A build cut off by a crash of its server leaves its pip running, still writing into the
 * environment: it is stopped before the environment is built again.
 */
async function stopOrphanedBuilder(envDir: string): Promise<void> {
  const file = builderFile(envDir);
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
  const cmdline = (): string | null => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return null;
    }
  };
  // Only the very command that built this environment (a reused pid names another).
  if (!(pid > 1) || !cmdline()?.includes(envDir)) return;
  try {
    // A build command leads its own process group (with what it started): the group goes.
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
  }
  for (let i = 0; i < 100 && cmdline() !== null; i++) await sleep(50);
}

async function run(
  command: string,
  args: string[],
  cwd: string,
  log: BuildLog,
  what: string,
  envDir: string,
): Promise<void> {
  log(`$ ${[command, ...args].join(' ')}`);
  const result = await runCommand(command, args, {
    cwd,
    env: { ...process.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
    onLine: (line) => log(line, /^ERROR:|error:/i.test(line) ? 'ERROR' : 'INFO'),
    onSpawn: (pid) => writeFileSync(builderFile(envDir), String(pid)),
  });
  rmSync(builderFile(envDir), { force: true });
  if (result.code !== 0) {
    const errors = result.tail.filter((l) => /^ERROR:/.test(l.trim()));
    const said = (errors.length > 0 ? errors : result.tail.slice(-3))
      .slice(0, 4)
      .map((l) => l.trim())
      .join(' | ');
    throw new BuildError(`${what} failed (exit ${result.code}): ${said}`);
  }
}

async function buildVenv(
  interpreter: string,
  requirements: string[],
  commands: readonly string[],
  envDir: string,
  log: BuildLog,
): Promise<void> {
  if (existsSync(join(envDir, READY_MARKER))) {
    log(
      `requirements${commands.length > 0 ? ' and build_commands' : ''} unchanged: reusing cached environment ${envDir}`,
    );
    return;
  }
  await stopOrphanedBuilder(envDir);
  await rm(envDir, { recursive: true, force: true });
  mkdirSync(dirname(envDir), { recursive: true });
  try {
    // Build commands often pip install: the venv gets pip for them too.
    const withPip = requirements.length > 0 || commands.length > 0;
    await run(
      interpreter,
      ['-m', 'venv', ...(withPip ? [] : ['--without-pip']), envDir],
      process.cwd(),
      log,
      'python -m venv',
      envDir,
    );
    if (withPip) {
      const file = join(envDir, 'plinth-requirements.txt');
      writeFileSync(file, requirements.join('\n') + '\n');
      await run(
        join(envDir, 'bin', 'python'),
        ['-m', 'pip', 'install', '--progress-bar', 'off', '-r', file],
        envDir,
        log,
        'pip install',
        envDir,
      );
    } else log('no requirements: nothing to install');
    if (commands.length > 0) {
      try {
        await runBuildCommands(commands, envDir, log, {
          onSpawn: (pid) => writeFileSync(builderFile(envDir), String(pid)),
        });
      } finally {
        rmSync(builderFile(envDir), { force: true });
      }
    }
    writeFileSync(join(envDir, READY_MARKER), new Date().toISOString());
    log(`environment ready: ${envDir}`);
  } catch (err) {
    await rm(envDir, { recursive: true, force: true });
    throw err;
  }
}

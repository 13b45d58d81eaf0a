// Prepares the dependencies of a TypeScript/JavaScript model: `npm ci` (or `npm install`) once per
// lockfile hash into a cached environment, then linked into the deployment's app directory.
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './run-command.ts';

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

export type BuildLog = (line: string, level?: 'INFO' | 'WARNING' | 'ERROR') => void;

const inProgress = new Map<string, Promise<string>>();
const READY_MARKER = '.plinth-ready';

/** The cache key: Node's major version and the lockfile (or package.json when there is none). */
export function nodeEnvironmentHash(appDir: string): string | null {
  const pkg = join(appDir, 'package.json');
  if (!existsSync(pkg)) return null;
  const lock = join(appDir, 'package-lock.json');
  const hash = createHash('sha256').update(`node${process.versions.node.split('.')[0]}\0`);
  hash.update(existsSync(lock) ? readFileSync(lock) : readFileSync(pkg));
  return hash.digest('hex').slice(0, 16);
}

/** Returns the environment directory (null when the model has no package.json). */
export async function prepareNodeEnvironment(
  appDir: string,
  envsRoot: string,
  log: BuildLog,
): Promise<string | null> {
  const hash = nodeEnvironmentHash(appDir);
  if (hash === null) {
    log('no package.json: nothing to install');
    return null;
  }
  const envDir = join(envsRoot, `node-${hash}`);
  let pending = inProgress.get(envDir);
  if (!pending) {
    pending = installOnce(appDir, envDir, log).finally(() => inProgress.delete(envDir));
    inProgress.set(envDir, pending);
  } else {
    log(`waiting for another build of environment node-${hash}`);
  }
  await pending;
  const link = join(appDir, 'node_modules');
  rmSync(link, { recursive: true, force: true });
  symlinkSync(join(envDir, 'node_modules'), link, 'dir');
  return envDir;
}

async function installOnce(appDir: string, envDir: string, log: BuildLog): Promise<string> {
  if (existsSync(join(envDir, READY_MARKER))) {
    log(`dependencies unchanged: reusing cached environment ${envDir}`);
    return envDir;
  }
  const staging = `${envDir}.partial-${process.pid}-${Date.now()}`;
  mkdirSync(staging, { recursive: true });
  try {
    cpSync(join(appDir, 'package.json'), join(staging, 'package.json'));
    const hasLock = existsSync(join(appDir, 'package-lock.json'));
    if (hasLock) cpSync(join(appDir, 'package-lock.json'), join(staging, 'package-lock.json'));
    if (existsSync(join(appDir, '.npmrc'))) cpSync(join(appDir, '.npmrc'), join(staging, '.npmrc'));
    const args = [hasLock ? 'ci' : 'install', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'];
    log(`$ npm ${args.join(' ')}`);
    const result = await runCommand('npm', args, {
      cwd: staging,
      onLine: (line, stream) =>
        log(line, stream === 'stderr' && /npm error|ERR!/.test(line) ? 'ERROR' : 'INFO'),
    });
    if (result.code !== 0) {
      const npmErrors = result.tail.filter(
        (l) => /^npm (error|ERR!)/.test(l) && !/A complete log of this run/.test(l),
      );
      const said = (npmErrors.length > 0 ? npmErrors : result.tail).slice(0, 4).join(' | ');
      throw new BuildError(`npm ${args[0]} failed (exit ${result.code}): ${said}`);
    }
    mkdirSync(join(staging, 'node_modules'), { recursive: true });
    writeFileSync(join(staging, READY_MARKER), new Date().toISOString());
    await rm(envDir, { recursive: true, force: true });
    renameSync(staging, envDir);
    log(`dependencies installed into ${envDir}`);
    return envDir;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

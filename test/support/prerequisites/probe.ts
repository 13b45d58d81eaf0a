// Looks at the machine for plan.ts: which prerequisites are present (commands on PATH, Python
// interpreters as the builder finds them, PostgreSQL answering as the tests connect), whether we run
// as root, and whether installing is allowed. Only reads; never installs.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { pythonInterpreters } from '../../../src/builder/python-interpreters.ts';
import { DEFAULT_TEST_POSTGRES_URL } from './plan.ts';
import type { Machine, PrerequisiteName } from './plan.ts';

/** Setting this to 1 forbids installing: the check lists what is missing and stops instead. */
export const NO_INSTALL_ENV = 'PLINTH_TEST_NO_INSTALL';

/** Whether `command` is an executable file in one of PATH's folders. */
export function onPath(command: string, path = process.env.PATH ?? ''): boolean {
  return path
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => isExecutableFile(join(dir, command)));
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Whether the builder would find a Python 3.11 whose venv can make environments with pip. */
function hasPython311WithVenv(): boolean {
  const python = pythonInterpreters().get('3.11');
  if (!python) return false;
  return (
    spawnSync(python, ['-c', 'import ensurepip, venv'], { stdio: 'ignore', timeout: 10_000 }).status === 0
  );
}

/** Whether PostgreSQL answers a query at `url`, as the tests connect to it. */
async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function mayInstall(isRoot: boolean, afterInstall: boolean): true | string {
  if (afterInstall) return 'an install just ran and did not bring it';
  if (process.env[NO_INSTALL_ENV] === '1') return `${NO_INSTALL_ENV}=1 forbids it`;
  if (!onPath('apt-get')) return 'no apt-get on this machine';
  if (isRoot) return true;
  if (!onPath('sudo')) return 'not root, and no sudo';
  const sudo = spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', timeout: 10_000 });
  return sudo.status === 0 ? true : 'not root, and sudo asks for a password';
}

/** The machine now; `afterInstall` says an install already ran (so another one is not planned). */
export async function probeMachine(afterInstall = false): Promise<Machine> {
  const present = new Set<PrerequisiteName>();
  for (const command of ['chromium', 'promtool', 'pkill'] as const) if (onPath(command)) present.add(command);
  // The kubectl tests run $KUBECTL when it is set.
  const kubectl = process.env.KUBECTL;
  if (kubectl ? isExecutableFile(kubectl) || onPath(kubectl) : onPath('kubectl')) present.add('kubectl');
  if (hasPython311WithVenv()) present.add('python3.11');
  if (pythonInterpreters().has('3.9')) present.add('python3.9');
  const postgresUrl = process.env.PLINTH_TEST_POSTGRES_URL ?? DEFAULT_TEST_POSTGRES_URL;
  if (await postgresAnswers(postgresUrl)) present.add('postgresql');
  const isRoot = process.getuid?.() === 0;
  return { present, isRoot, mayInstall: mayInstall(isRoot, afterInstall), postgresUrl };
}

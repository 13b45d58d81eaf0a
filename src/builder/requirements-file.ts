// Reads a model's `requirements_file` into requirement lines, by its kind: a pip requirements file
// (`requirements.txt`, any other name), a `pyproject.toml` (its [project].dependencies) or a
// `uv.lock` (exported through `uv`, which must be on PATH). Errors are BuildErrors naming the file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BuildError } from './node-environment.ts';
import { pyprojectDependencies } from './pyproject.ts';
import { runCommand } from './run-command.ts';

/** The largest requirements file read. */
export const MAX_REQUIREMENTS_FILE_BYTES = 1024 * 1024;
/** How long `uv export` may take (it reads the lock; it resolves nothing). */
const UV_EXPORT_TIMEOUT_MS = 60_000;

/** Lines of a pip requirements file, continued lines (`\`) joined, comments and blank lines left out. */
export function requirementLines(text: string): string[] {
  const lines: string[] = [];
  for (const raw of text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line) lines.push(line);
  }
  return lines;
}

/** Where `program` is on PATH (looked up without a shell), or null. */
function onPath(program: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(':')) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not there.
    }
  }
  return null;
}

/** The requirement lines of `requirements_file` (a path inside appDir, checked by the config). */
export async function readRequirementsFile(appDir: string, file: string): Promise<string[]> {
  const path = join(appDir, file);
  const what = `requirements_file ${file}`;
  if (!existsSync(path) || !statSync(path).isFile()) throw new BuildError(`${what} is not in the bundle`);
  if (statSync(path).size > MAX_REQUIREMENTS_FILE_BYTES) {
    throw new BuildError(`${what} is larger than ${MAX_REQUIREMENTS_FILE_BYTES / 1024} KiB`);
  }
  const name = basename(file);
  if (name === 'uv.lock') return exportUvLock(path, what);
  const text = readFileSync(path, 'utf8');
  if (name.endsWith('.toml')) {
    try {
      return pyprojectDependencies(text);
    } catch (err) {
      throw new BuildError(`${what}: ${(err as Error).message}`);
    }
  }
  return requirementLines(text);
}

/** `uv export` of a lock: the pinned packages as requirement lines, without hashes or the project. */
async function exportUvLock(lockPath: string, what: string): Promise<string[]> {
  const uv = onPath('uv');
  if (!uv) {
    throw new BuildError(
      `${what} needs uv on PATH to export its pins (https://docs.astral.sh/uv/), on the machine that builds; or point requirements_file at pyproject.toml or a requirements.txt`,
    );
  }
  const projectDir = dirname(lockPath);
  if (!existsSync(join(projectDir, 'pyproject.toml'))) {
    throw new BuildError(`${what}: uv.lock needs its pyproject.toml beside it`);
  }
  const lines: string[] = [];
  const args = [
    'export',
    '--frozen',
    '--no-hashes',
    '--no-header',
    '--no-emit-project',
    '--format',
    'requirements-txt',
  ];
  const result = await runCommand(uv, args, {
    cwd: projectDir,
    env: { ...process.env, UV_NO_PROGRESS: '1' },
    timeoutMs: UV_EXPORT_TIMEOUT_MS,
    onLine: (line, stream) => {
      if (stream === 'stdout' && lines.length < 100_000) lines.push(line);
    },
  });
  if (result.code !== 0) {
    throw new BuildError(
      `${what}: uv ${args.join(' ')} failed (exit ${result.code}): ${result.tail.slice(-3).join(' | ')}`,
    );
  }
  return requirementLines(lines.join('\n'));
}

// Finds the Python interpreters this host has (pyenv versions, then PATH, then the system's),
// resolved to real executables once (a pyenv shim would add ~150 ms to every replica start).
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { BuildError } from './node-environment.ts';

let cached: Map<string, string> | undefined;

function candidates(): string[] {
  const out: string[] = [];
  const pyenvRoot = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  const versions = join(pyenvRoot, 'versions');
  if (existsSync(versions)) {
    for (const v of readdirSync(versions).sort().reverse()) {
      const m = /^(3\.\d+)\.\d+$/.exec(v);
      if (m) out.push(join(versions, v, 'bin', `python${m[1]}`));
    }
  }
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d && !d.includes('shims'));
  for (const dir of [...dirs, '/usr/local/bin', '/usr/bin']) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) if (/^python3\.\d+$/.test(name)) out.push(join(dir, name));
  }
  return out;
}

/** Minor version ("3.11") → real interpreter path; the first found wins. */
export function pythonInterpreters(): Map<string, string> {
  if (cached) return cached;
  const found = new Map<string, string>();
  for (const candidate of candidates()) {
    const version = /python(3\.\d+)$/.exec(candidate)?.[1];
    if (!version || found.has(version) || !existsSync(candidate)) continue;
    found.set(version, realpathSync(candidate));
  }
  cached = found;
  return found;
}

/** `py311` → the interpreter for 3.11, or a BuildError listing what the host has. */
export function resolvePython(pythonVersion: string): string {
  const m = /^py3(\d+)$/.exec(pythonVersion);
  const version = m ? `3.${m[1]}` : pythonVersion;
  const found = pythonInterpreters().get(version);
  if (found) return found;
  const have = [...pythonInterpreters().keys()]
    .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
    .map((v) => `py${v.replace('.', '')}`);
  throw new BuildError(
    `python_version ${pythonVersion}: Python ${version} is not installed on this host; it has ${have.length > 0 ? have.join(', ') : 'no Python 3'}`,
  );
}

/** The interpreter of config.yaml's default `python_version` (py311), or null when the host lacks it. */
export function defaultPythonInterpreter(): string | null {
  try {
    return resolvePython('py311');
  } catch {
    return null;
  }
}

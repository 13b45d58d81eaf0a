// Layers Truss's base environment (`python-base.ts`) UNDER a deployment's venv: a `.pth` file in
// the venv's site-packages names the base's site-packages. Python appends a .pth directory after
// the site-packages that holds the file, so the deployment's own packages (its pins) are found first
// and the base only fills in what the deployment lacks. The venv's python reads it as it starts, and
// a standby reads it when it takes the venv on (site.addsitedir processes .pth files). The model
// server itself never imports the base's packages.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ModelConfig } from '../config/schema.ts';
import type { BuildLog } from './node-environment.ts';
import { basePackageNames, isPythonBaseReady, preparePythonBase } from './python-base.ts';
import { preparePythonEnvironment } from './python-environment.ts';
import { resolvePython } from './python-interpreters.ts';

/** Named to sort after other .pth files, so that paths a deployment's packages add come first too. */
export const BASE_PTH = 'zz-plinth-python-base.pth';

/** `<venv>/lib/python3.X/site-packages`, or null when the venv has none. */
export function sitePackagesOf(venv: string): string | null {
  const lib = join(venv, 'lib');
  if (!existsSync(lib)) return null;
  const version = readdirSync(lib).find((name) => /^python3\.\d+$/.test(name));
  const dir = version ? join(lib, version, 'site-packages') : null;
  return dir && existsSync(dir) ? dir : null;
}

/** The base environment a venv is layered over now (what its .pth names), or null. */
export function layeredBaseOf(envDir: string): string | null {
  const site = sitePackagesOf(envDir);
  if (!site || !existsSync(join(site, BASE_PTH))) return null;
  const line = readFileSync(join(site, BASE_PTH), 'utf8').trim();
  // <base>/lib/python3.X/site-packages → <base>
  return line ? dirname(dirname(dirname(line))) : null;
}

/**
 * Names `baseDir`'s site-packages in the venv's .pth (replaced atomically; readable by all, like
 * the venv). Without a base this time, a venv keeps the one it was layered over before.
 */
export function layerPythonBase(envDir: string, baseDir: string | null): string | null {
  const site = sitePackagesOf(envDir);
  const baseSite = baseDir ? sitePackagesOf(baseDir) : null;
  if (!site || !baseSite) {
    const before = layeredBaseOf(envDir);
    return before && isPythonBaseReady(before) ? before : null;
  }
  const file = join(site, BASE_PTH);
  const content = `${baseSite}\n`;
  if (!existsSync(file) || readFileSync(file, 'utf8') !== content) {
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, content, { mode: 0o644 });
    renameSync(temp, file);
  }
  return baseDir;
}

export interface PythonApp {
  envDir: string;
  /** The base environment layered under it; null when none could be prepared yet. */
  baseEnvDir: string | null;
}

/**
 * A Python model's venv (cached per requirements) with the base environment layered under it;
 * the base is prepared alongside the venv, so a first build waits for the longer of the two.
 */
export async function preparePythonApp(
  appDir: string,
  config: ModelConfig,
  dirs: { environments: string; pythonBase: string },
  log: BuildLog,
  /** Default PYTHON_BASE_PACKAGES (tests use fewer). */
  packages?: readonly string[],
): Promise<PythonApp> {
  const interpreter = resolvePython(config.python_version);
  const base = preparePythonBase({ root: dirs.pythonBase, interpreter, packages, log });
  const envDir = await preparePythonEnvironment(appDir, config, dirs.environments, log);
  const prepared = await base;
  if (!prepared.ok)
    log(
      `WARNING: Truss's base packages (${basePackageNames(packages)}) are not importable without listing them in requirements: preparing ${prepared.dir} failed: ${prepared.reason}; the next build tries again`,
      'WARNING',
    );
  return { envDir, baseEnvDir: layerPythonBase(envDir, prepared.ok ? prepared.dir : null) };
}

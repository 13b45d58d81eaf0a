// Reads a model directory on the user's machine: config.yaml validated at the edge (errors name
// the file and key), the model file found, the model name decided, the external package folders
// found (packModelDir packs them with it).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { findModelEntry } from '../config/model-entry.ts';
import { modelNameProblem, quoteModelName } from '../domain/model-name.ts';
import type { ModelEntry } from '../config/model-entry.ts';
import { parseConfig } from '../config/parse.ts';
import type { ModelConfig } from '../config/schema.ts';
import { listBundleFiles, packDirectory } from '../bundle/pack.ts';
import type { ExtraFolder, PackedBundle } from '../bundle/pack.ts';
import { externalPackagePath, staysInside } from '../config/external-packages.ts';
import { UserError } from './errors.ts';
import { checkWeightsConfig } from '../weights/plan.ts';

export interface ModelDir {
  dir: string;
  config: ModelConfig;
  warnings: string[];
  entry: ModelEntry;
  modelName: string;
  /** external_package_dirs outside the directory, packed into the bundle under their prefix. */
  externalPackages: ExtraFolder[];
}

export function readConfigOf(dir: string): { config: ModelConfig; warnings: string[] } {
  const file = join(dir, 'config.yaml');
  return parseConfig(existsSync(file) ? readFileSync(file, 'utf8') : '', file);
}

/**
 * The directory's model. Its name: `nameOverride` (`push --model-name`), else config.yaml's
 * `model_name`, else the directory's own name, as Truss decides it.
 */
export function readModelDir(dirArg: string, nameOverride?: string): ModelDir {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dirArg} is not a directory`);
  const { config, warnings } = readConfigOf(dirArg);
  const entry = findModelEntry(new Set(listBundleFiles(dir)), config, dirArg);
  const modelName = nameOverride ?? config.model_name ?? basename(dir);
  const problem = modelNameProblem(modelName);
  if (problem) {
    const from =
      nameOverride !== undefined
        ? '--model-name'
        : config.model_name !== undefined
          ? 'model_name'
          : 'the directory name';
    throw new UserError(`${from} ${quoteModelName(modelName)} cannot name a model: ${problem}`);
  }
  if (entry.language === 'typescript' && config.build_commands.length > 0) {
    throw new UserError(
      `${join(dirArg, 'config.yaml')}: build_commands: run for Python models only, as in Truss: a TypeScript model does such steps in load()`,
    );
  }
  return {
    dir,
    config,
    warnings: [...warnings, ...checkWeightsConfig(config, join(dirArg, 'config.yaml'))],
    entry,
    modelName,
    externalPackages: externalPackagesOf(dir, dirArg, config),
  };
}

/**
 * The external_package_dirs outside `dir`, each a directory that exists (else a clear error
 * naming it); those inside are packed with the directory already.
 */
function externalPackagesOf(dir: string, dirArg: string, config: ModelConfig): ExtraFolder[] {
  const extras: ExtraFolder[] = [];
  for (const [i, entry] of config.external_package_dirs.entries()) {
    const source = resolve(dir, entry);
    if (!existsSync(source) || !statSync(source).isDirectory()) {
      throw new UserError(
        `${join(dirArg, 'config.yaml')}: external_package_dirs[${i}]: ${entry} is not a directory (${source})`,
      );
    }
    if (dir === source || dir.startsWith(`${source}/`)) {
      throw new UserError(
        `${join(dirArg, 'config.yaml')}: external_package_dirs[${i}]: ${entry} holds the model directory itself; name the folder of packages beside it`,
      );
    }
    if (!staysInside(entry)) extras.push({ dir: source, prefix: externalPackagePath(entry, i) });
  }
  return extras;
}

/** Packs the model directory with its external package folders. */
export function packModelDir(model: Pick<ModelDir, 'dir' | 'externalPackages'>): Promise<PackedBundle> {
  return packDirectory(model.dir, model.externalPackages);
}

/** The model a command is about: --model, else the model directory's (cwd by default). */
export function modelRef(option: string | undefined, dirArg: string | undefined): string {
  if (option) return option;
  const dir = dirArg ?? '.';
  if (!existsSync(join(dir, 'config.yaml')) && !dirArg) {
    throw new UserError('which model? pass --model NAME, or run this inside a model directory');
  }
  return readConfigOf(dir).config.model_name ?? basename(resolve(dir));
}

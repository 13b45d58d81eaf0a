// Reads a model directory on the user's machine: config.yaml validated at the edge (errors name
// the file and key), the model file found, the model name decided.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { findModelEntry } from '../config/model-entry.ts';
import { modelNameProblem, quoteModelName } from '../domain/model-name.ts';
import type { ModelEntry } from '../config/model-entry.ts';
import { parseConfig } from '../config/parse.ts';
import type { ModelConfig } from '../config/schema.ts';
import { listBundleFiles } from '../bundle/pack.ts';
import { UserError } from './errors.ts';

export interface ModelDir {
  dir: string;
  config: ModelConfig;
  warnings: string[];
  entry: ModelEntry;
  modelName: string;
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
  return { dir, config, warnings, entry, modelName };
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

// Finds a model directory's entry file and language from its file list and config. Pure.
import { posix } from 'node:path';
import { PlinthError } from '../domain/errors.ts';
import type { ModelLanguage } from '../domain/types.ts';
import type { ModelConfig } from './schema.ts';

export type { ModelLanguage };

export interface ModelEntry {
  language: ModelLanguage;
  /**
   * Path of the model class file, relative to the model directory, with forward slashes; empty
   * for a custom server (config `docker_server`), which runs its own command and needs none.
   */
  file: string;
  customServer?: true;
}

const NODE_EXTENSIONS = ['.ts', '.js', '.mjs'];

export function findModelEntry(
  files: ReadonlySet<string>,
  config: ModelConfig,
  dirLabel: string,
): ModelEntry {
  // A custom server's requirements build a Python environment that its command runs in.
  if (config.docker_server) return { language: 'python', file: '', customServer: true };
  const dir = config.model_module_dir.replace(/\/+$/, '');
  const named = config.model_class_filename;
  if (named !== undefined) {
    const file = posix.join(dir, named);
    const language: ModelLanguage = named.endsWith('.py') ? 'python' : 'typescript';
    if (config.language && config.language !== language) {
      throw new PlinthError(
        'INVALID_CONFIG',
        `config.yaml: model_class_filename "${named}" is a ${language} file but language is "${config.language}"`,
      );
    }
    if (!files.has(file))
      throw missing(`${file} not found in ${dirLabel} (config.yaml names it in model_class_filename)`);
    return { language, file };
  }
  const python = posix.join(dir, 'model.py');
  const nodeFiles = NODE_EXTENSIONS.map((ext) => posix.join(dir, `model${ext}`));
  const foundNode = nodeFiles.find((f) => files.has(f));
  const wantPython = config.language === 'python' || (config.language === undefined && !foundNode);
  if (wantPython && files.has(python)) return { language: 'python', file: python };
  if (!wantPython && foundNode) return { language: 'typescript', file: foundNode };
  const expected =
    config.language === 'python'
      ? python
      : config.language === 'typescript'
        ? `${dir}/model.ts, model.js or model.mjs`
        : `${python} (Python) or ${dir}/model.ts, model.js or model.mjs (TypeScript/JavaScript)`;
  throw missing(`no model file in ${dirLabel}: expected ${expected}`);
}

function missing(message: string): PlinthError {
  return new PlinthError('INVALID_BUNDLE', message);
}

// `plinth init DIR`: a new model directory from a template.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

const TS_MODEL = `// A Plinth model: load() runs once per replica, predict() once per request.
export class Model {
  private ready = false;

  constructor(private readonly context: { config: Record<string, unknown>; dataDir: string }) {}

  async load(): Promise<void> {
    // Load weights or clients here; requests wait until this returns.
    this.ready = true;
  }

  async predict(input: { text?: string }): Promise<{ length: number; words: number }> {
    const text = input.text ?? '';
    return { length: text.length, words: text.split(/\\s+/).filter(Boolean).length };
  }
}
`;

const PY_MODEL = `"""A Plinth (Truss-compatible) model: load() runs once per replica, predict() once per request."""


class Model:
    def __init__(self, **kwargs):
        self._config = kwargs.get("config")
        self._ready = False

    def load(self):
        # Load weights or clients here; requests wait until this returns.
        self._ready = True

    def predict(self, model_input):
        text = model_input.get("text", "")
        return {"length": len(text), "words": len(text.split())}
`;

export function registerInit(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('init')
    .description('Create a new model directory')
    .argument('<dir>', 'directory to create')
    .option('--language <language>', 'ts (TypeScript) or python (Truss)', 'ts')
    .action((dir: string, options: { language: string }) =>
      run(async () => {
        const language = options.language.toLowerCase();
        const python = language === 'python' || language === 'py';
        if (!python && language !== 'ts' && language !== 'typescript') {
          throw new UserError(`--language ${options.language}: expected ts or python`);
        }
        const target = resolve(dir);
        if (existsSync(target) && readdirSync(target).length > 0) {
          throw new UserError(`${dir} exists and is not empty`);
        }
        mkdirSync(join(target, 'model'), { recursive: true });
        const name = basename(target)
          .toLowerCase()
          .replace(/[^a-z0-9._-]/g, '-');
        const config = python
          ? `model_name: ${name}\npython_version: py311\nrequirements: []\nruntime:\n  predict_concurrency: 1\n`
          : `model_name: ${name}\nlanguage: typescript\nruntime:\n  predict_concurrency: 8\n`;
        writeFileSync(join(target, 'config.yaml'), config);
        writeFileSync(join(target, 'model', python ? 'model.py' : 'model.ts'), python ? PY_MODEL : TS_MODEL);
        process.stdout.write(`Created ${dir}. Deploy it with:\n  plinth push ${dir}\n`);
      }, false),
    );
}

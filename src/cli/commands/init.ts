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

export function registerInit(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('init')
    .description('Create a new model directory')
    .argument('<dir>', 'directory to create')
    .option('--language <language>', 'ts (TypeScript)', 'ts')
    .action((dir: string, options: { language: string }) =>
      run(async () => {
        const language = options.language.toLowerCase();
        if (language === 'python' || language === 'py') {
          throw new UserError(
            'Python models are not supported by this version of Plinth yet; use --language ts',
          );
        }
        if (language !== 'ts' && language !== 'typescript')
          throw new UserError(`--language ${options.language}: expected ts`);
        const target = resolve(dir);
        if (existsSync(target) && readdirSync(target).length > 0)
          throw new UserError(`${dir} exists and is not empty`);
        mkdirSync(join(target, 'model'), { recursive: true });
        const name = basename(target)
          .toLowerCase()
          .replace(/[^a-z0-9._-]/g, '-');
        writeFileSync(
          join(target, 'config.yaml'),
          `model_name: ${name}\nlanguage: typescript\nruntime:\n  predict_concurrency: 8\n`,
        );
        writeFileSync(join(target, 'model', 'model.ts'), TS_MODEL);
        process.stdout.write(`Created ${dir}. Deploy it with:\n  plinth push ${dir}\n`);
      }, false),
    );
}

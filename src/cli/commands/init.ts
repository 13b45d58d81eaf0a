// `plinth init DIR`: a new model directory from a template.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.ts';
import { packageRoot } from '../../package-root.ts';

/** `--template` names: the example each is copied from. */
const TEMPLATES: Readonly<Record<string, string>> = {
  'custom-server': 'custom-server', // an OpenAI-compatible FastAPI server (docker_server)
  chat: 'chat-python', // a Truss model whose chat_completions streams
};

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
    .option('--template <name>', `start from an example instead: ${Object.keys(TEMPLATES).join(' or ')}`)
    .action((dir: string, options: { language: string; template?: string }) =>
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
        const name = basename(target)
          .toLowerCase()
          .replace(/[^a-z0-9._-]/g, '-');
        if (options.template !== undefined) {
          const example = TEMPLATES[options.template];
          if (!example)
            throw new UserError(
              `--template ${options.template}: expected ${Object.keys(TEMPLATES).join(' or ')}`,
            );
          cpSync(join(packageRoot(), 'examples', example), target, { recursive: true });
          const configFile = join(target, 'config.yaml');
          const config = readFileSync(configFile, 'utf8').replace(/^model_name: .*$/m, `model_name: ${name}`);
          writeFileSync(configFile, config);
          process.stdout.write(
            `Created ${dir} from the ${options.template} template. Deploy it with:\n  plinth push ${dir}\n`,
          );
          return;
        }
        mkdirSync(join(target, 'model'), { recursive: true });
        const config = python
          ? `model_name: ${name}\npython_version: py311\nrequirements: []\nruntime:\n  predict_concurrency: 1\n`
          : `model_name: ${name}\nlanguage: typescript\nruntime:\n  predict_concurrency: 8\n`;
        writeFileSync(join(target, 'config.yaml'), config);
        writeFileSync(join(target, 'model', python ? 'model.py' : 'model.ts'), python ? PY_MODEL : TS_MODEL);
        process.stdout.write(`Created ${dir}. Deploy it with:\n  plinth push ${dir}\n`);
      }, false),
    );
}

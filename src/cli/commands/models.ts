// `plinth models list|get`: the models on the server, by id or name (a name may hold spaces); the
// list is read a page at a time.
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import type { ModelInfo } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
import { printJson, printTable } from '../output.ts';

function row(m: ModelInfo): string[] {
  return [m.id, String(m.deployments_count), m.production_deployment_id ?? '-', m.created_at, m.name];
}

// The name goes last: it may hold spaces, and the columns before it stay aligned.
const HEADERS = ['ID', 'DEPLOYMENTS', 'PRODUCTION', 'CREATED', 'NAME'];

/** How many models a full list asks the server for at a time. */
const PAGE = 100;
const MAX_LIMIT = 1000;

function pageLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_LIMIT)
    throw new UserError(`--limit ${value}: expected a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

/** Every model, a page at a time. */
async function allModels(client: ApiClient): Promise<ModelInfo[]> {
  const models: ModelInfo[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listModels({ limit: PAGE, cursor });
    models.push(...page.models);
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
  return models;
}

export function registerModels(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const group = program.command('models').description('List and inspect models');

  group
    .command('list')
    .description(
      `List models, oldest first: every one (fetched ${PAGE} at a time), or one page with --limit (--cursor for the next)`,
    )
    .option(
      '--limit <n>',
      `show at most n models (1–${MAX_LIMIT}); the next page's --cursor is printed after them`,
    )
    .option('--cursor <cursor>', 'start after the page that gave this cursor (with --limit)')
    .option('--output <format>', 'text or json', 'text')
    .action((options: { limit?: string; cursor?: string; output?: string }) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const json = options.output === 'json';
        if (options.limit === undefined && options.cursor === undefined) {
          const models = await allModels(client);
          if (json) return printJson({ models });
          return printTable(HEADERS, models.map(row));
        }
        if (options.limit === undefined) throw new UserError('--cursor goes with --limit');
        const page = await client.listModels({ limit: pageLimit(options.limit), cursor: options.cursor });
        if (json) return printJson(page);
        printTable(HEADERS, page.models.map(row));
        if (page.next_cursor)
          process.stderr.write(
            `more: plinth models list --limit ${options.limit} --cursor ${page.next_cursor}\n`,
          );
      }, options.output === 'json'),
    );

  group
    .command('get')
    .description('Show one model')
    .argument('<model>', 'model id or name')
    .option('--output <format>', 'text or json', 'text')
    .action((model: string, options: { output?: string }) =>
      run(async () => {
        const info = await new ApiClient(resolveConnection()).getModel(model);
        if (options.output === 'json') return printJson(info);
        printTable(HEADERS, [row(info)]);
      }, options.output === 'json'),
    );
}

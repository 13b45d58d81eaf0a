// `plinth models list|get`: the models on the server, by id or name (a name may hold spaces).
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import type { ModelInfo } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { printJson, printTable } from '../output.ts';

function row(m: ModelInfo): string[] {
  return [m.id, String(m.deployments_count), m.production_deployment_id ?? '-', m.created_at, m.name];
}

// The name goes last: it may hold spaces, and the columns before it stay aligned.
const HEADERS = ['ID', 'DEPLOYMENTS', 'PRODUCTION', 'CREATED', 'NAME'];

export function registerModels(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const group = program.command('models').description('List and inspect models');

  group
    .command('list')
    .description('List models')
    .option('--output <format>', 'text or json', 'text')
    .action((options: { output?: string }) =>
      run(async () => {
        const models = await new ApiClient(resolveConnection()).listModels();
        if (options.output === 'json') return printJson({ models });
        printTable(HEADERS, models.map(row));
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

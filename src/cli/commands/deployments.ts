// `plinth deployments list|get|delete`.
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { modelRef } from '../model-dir.ts';
import { printJson, printTable } from '../output.ts';

interface Options {
  model?: string;
  output?: string;
}

export function registerDeployments(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const group = program.command('deployments').description("List, inspect and delete a model's deployments");

  group
    .command('list')
    .description('List deployments')
    .option('--model <model>', 'model id or name (default: the model directory here)')
    .option('--output <format>', 'text or json', 'text')
    .action((options: Options) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const deployments = await client.listDeployments(modelRef(options.model, undefined));
        if (options.output === 'json') return printJson({ deployments });
        printTable(
          ['ID', 'NAME', 'STATUS', 'REPLICAS', 'ENVIRONMENT', 'CREATED'],
          deployments.map((d) => [
            d.id,
            d.name,
            d.status,
            String(d.active_replica_count),
            d.environment ?? '-',
            d.created_at,
          ]),
        );
      }, options.output === 'json'),
    );

  group
    .command('get')
    .description('Show a deployment with its events')
    .argument('<deployment>', 'deployment id or name, or production / development')
    .option('--model <model>', 'model id or name')
    .option('--output <format>', 'text or json', 'text')
    .action((deployment: string, options: Options) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const model = modelRef(options.model, undefined);
        const d = await client.getDeployment(model, deployment);
        const events = await client.events(model, d.id);
        if (options.output === 'json') return printJson({ ...d, events });
        const fields: [string, string][] = [
          ['id', d.id],
          ['name', d.name],
          ['model', `${d.model_name} (${d.model_id})`],
          ['status', d.status + (d.status_reason ? ` — ${d.status_reason}` : '')],
          ['replicas', String(d.active_replica_count)],
          ['environment', d.environment ?? '-'],
          ['predict url', d.predict_url],
          ['created', d.created_at],
        ];
        for (const [k, v] of fields) process.stdout.write(`${k.padEnd(12)} ${v}\n`);
        process.stdout.write('events:\n');
        for (const e of events) process.stdout.write(`  ${e.time} ${e.from ?? '-'} → ${e.to}: ${e.reason}\n`);
      }, options.output === 'json'),
    );

  group
    .command('delete')
    .description('Delete a deployment (its replicas drain first)')
    .argument('<deployment>', 'deployment id or name')
    .option('--model <model>', 'model id or name')
    .option('--output <format>', 'text or json', 'text')
    .action((deployment: string, options: Options) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const model = modelRef(options.model, undefined);
        const result = await client.deleteDeployment(model, deployment);
        if (options.output === 'json') return printJson(result);
        process.stdout.write(`deleted ${deployment}\n`);
      }, options.output === 'json'),
    );
}

// `plinth deployments list|get|delete`.
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import type { DeploymentInfo } from '../api-client.ts';
import { waitForPromotion } from './environments.ts';
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

  const lifecycle = (verb: 'activate' | 'deactivate' | 'retry', description: string): void => {
    group
      .command(verb)
      .description(description)
      .argument('<deployment>', 'deployment id or name')
      .option('--model <model>', 'model id or name')
      .option('--output <format>', 'text or json', 'text')
      .action((deployment: string, options: Options) =>
        run(async () => {
          const client = new ApiClient(resolveConnection());
          const model = modelRef(options.model, undefined);
          const d = await client.request<DeploymentInfo>(
            'POST',
            `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}/${verb}`,
          );
          if (options.output === 'json') return printJson(d);
          process.stdout.write(`${d.name} (${d.id}) is ${d.status}\n`);
        }, options.output === 'json'),
      );
  };
  lifecycle('activate', 'Bring an inactive deployment back');
  lifecycle('deactivate', 'Drain and stop every replica; its URLs answer 404 until activated');
  lifecycle('retry', 'Build or start a failed deployment again');

  group
    .command('promote')
    .description('Promote a deployment to production (or --environment)')
    .argument('<deployment>', 'deployment id or name')
    .option('--model <model>', 'model id or name')
    .option('--environment <name>', 'environment to promote to', 'production')
    .option('--preserve-previous-deployment', 'keep the deployment it replaces running')
    .option('--output <format>', 'text or json', 'text')
    .action(
      (
        deployment: string,
        options: Options & { environment: string; preservePreviousDeployment?: boolean },
      ) =>
        run(async () => {
          const client = new ApiClient(resolveConnection());
          const model = modelRef(options.model, undefined);
          const d = await client.getDeployment(model, deployment);
          const sinceMs = Date.now();
          await client.promote(model, options.environment, d.id, options.preservePreviousDeployment);
          const env = await waitForPromotion(client, model, options.environment, sinceMs, (t) =>
            options.output !== 'json' ? process.stderr.write(`→ ${t}\n`) : undefined,
          );
          if (options.output === 'json') return printJson(env);
          process.stdout.write(
            `${options.environment} now serves ${env.current_deployment?.name} (${env.current_deployment_id})\n`,
          );
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

// `plinth deployments list|get|activate|deactivate|retry|promote|update|delete|download`.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import type { DeploymentInfo } from '../api-client.ts';
import { waitForPromotion } from './environments.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
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
          ['ID', 'NAME', 'STATUS', 'REPLICAS', 'INSTANCE TYPE', 'ENVIRONMENT', 'CREATED'],
          deployments.map((d) => [
            d.id,
            d.name,
            d.status,
            String(d.active_replica_count),
            d.instance_type_name,
            d.environment ?? '-',
            d.created_at,
          ]),
        );
      }, options.output === 'json'),
    );

  /** A subcommand about one deployment of a model: `<deployment> [--model M] [--output json]`. */
  const deploymentCommand = <O extends Options>(
    name: string,
    description: string,
    handler: (ctx: {
      client: ApiClient;
      model: string;
      deployment: string;
      options: O;
      json: boolean;
    }) => Promise<void>,
    extra: (c: Command) => Command = (c) => c,
  ): void => {
    extra(
      group
        .command(name)
        .description(description)
        .argument('<deployment>', 'deployment id or name, or production / development')
        .option('--model <model>', 'model id or name (default: the model directory here)')
        .option('--output <format>', 'text or json', 'text'),
    ).action((deployment: string, options: O) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const model = modelRef(options.model, undefined);
        await handler({ client, model, deployment, options, json: options.output === 'json' });
      }, options.output === 'json'),
    );
  };

  deploymentCommand(
    'get',
    'Show a deployment with its events',
    async ({ client, model, deployment, json }) => {
      const d = await client.getDeployment(model, deployment);
      const events = await client.events(model, d.id);
      if (json) return printJson({ ...d, events });
      const fields: [string, string][] = [
        ['id', d.id],
        ['name', d.name],
        ['model', `${d.model_name} (${d.model_id})`],
        ['status', d.status + (d.status_reason ? ` — ${d.status_reason}` : '')],
        ['replicas', String(d.active_replica_count)],
        ['instance', d.instance_type_name],
        ['environment', d.environment ?? '-'],
        ['predict url', d.predict_url],
        ['created', d.created_at],
      ];
      for (const [k, v] of fields) process.stdout.write(`${k.padEnd(12)} ${v}\n`);
      process.stdout.write('events:\n');
      for (const e of events) process.stdout.write(`  ${e.time} ${e.from ?? '-'} → ${e.to}: ${e.reason}\n`);
    },
  );

  for (const [verb, description] of [
    ['activate', 'Bring an inactive deployment back'],
    ['deactivate', 'Drain and stop every replica; its URLs answer 404 until activated'],
    ['retry', 'Build or start a failed deployment again'],
  ] as const) {
    deploymentCommand(verb, description, async ({ client, model, deployment, json }) => {
      const d = await client.request<DeploymentInfo>(
        'POST',
        `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}/${verb}`,
      );
      if (json) return printJson(d);
      process.stdout.write(`${d.name} (${d.id}) is ${d.status}\n`);
    });
  }

  deploymentCommand<Options & { environment: string; preservePreviousDeployment?: boolean }>(
    'promote',
    'Promote a deployment to production (or --environment) and wait until traffic has moved',
    async ({ client, model, deployment, options, json }) => {
      const d = await client.getDeployment(model, deployment);
      const sinceMs = Date.now();
      await client.promote(model, options.environment, d.id, options.preservePreviousDeployment);
      const env = await waitForPromotion(client, model, options.environment, sinceMs, (t) =>
        json ? undefined : process.stderr.write(`→ ${t}\n`),
      );
      if (json) return printJson(env);
      process.stdout.write(
        `${options.environment} now serves ${env.current_deployment?.name} (${env.current_deployment_id})\n`,
      );
    },
    (c) =>
      c
        .option('--environment <name>', 'environment to promote to', 'production')
        .option('--preserve-previous-deployment', 'keep the deployment it replaces running'),
  );

  deploymentCommand<Options & { instanceType?: string }>(
    'update',
    "Change a deployment's instance type (its replicas are replaced one by one, new before old)",
    async ({ client, model, deployment, options, json }) => {
      if (!options.instanceType)
        throw new UserError('pass --instance-type NAME (see `plinth instance-types`)');
      const d = await client.request<DeploymentInfo>(
        'PATCH',
        `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}`,
        { instance_type_name: options.instanceType },
      );
      if (json) return printJson(d);
      process.stdout.write(`${d.name} (${d.id}) runs on ${d.instance_type_name}\n`);
    },
    (c) => c.option('--instance-type <name>', 'an instance type from `plinth instance-types`'),
  );

  deploymentCommand(
    'delete',
    'Delete a deployment (its replicas drain first)',
    async ({ client, model, deployment, json }) => {
      const result = await client.deleteDeployment(model, deployment);
      if (json) return printJson(result);
      process.stdout.write(`deleted ${deployment}\n`);
    },
  );

  deploymentCommand<Options & { out?: string }>(
    'download',
    'Save the bundle a deployment was pushed as (a gzip tarball; `tar -xzf` it and push it to recreate the deployment)',
    async ({ client, model, deployment, options, json }) => {
      const { bytes, sha256 } = await client.downloadDeployment(model, deployment);
      const out = options.out ?? `${deployment}-${sha256.slice(0, 12)}.tar.gz`;
      writeFileSync(out, bytes);
      if (json) return printJson({ file: out, bundle_sha256: sha256, bytes: bytes.length });
      process.stdout.write(`${out} (${bytes.length} bytes, bundle ${sha256})\n`);
    },
    (c) => c.option('--out <file>', 'where to write it (default <deployment>-<sha>.tar.gz)'),
  );
}

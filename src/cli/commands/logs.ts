// `plinth logs`: a deployment's build, replica and platform logs; --tail follows them.
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
import { modelRef } from '../model-dir.ts';
import { formatLogLine, printJson } from '../output.ts';
import { tailForever } from './push.ts';

interface LogsOptions {
  model?: string;
  deployment?: string;
  tail?: boolean;
  since?: string;
  replica?: string;
  level?: string;
  requestId?: string;
  search?: string;
  until?: string;
  output?: string;
}

export function registerLogs(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('logs')
    .description("Show a deployment's logs")
    .argument('[dir]', 'a model directory (names the model)')
    .option('--model <model>', 'model id or name')
    .option('--deployment <id>', 'deployment id or name (default: production, else the newest)')
    .option('--tail', 'keep following new lines')
    .option('--since <when>', 'only lines newer than this (10m, 2h, 1d or an ISO time)')
    .option('--replica <id>', 'only this replica')
    .option('--level <level>', 'DEBUG, INFO, WARNING or ERROR (and above)')
    .option('--until <when>', 'only lines older than this (10m, 2h, 1d or an ISO time)')
    .option('--request-id <id>', 'only lines of this request (its X-Request-Id)')
    .option('--search <text>', 'only lines containing this text')
    .option('--output <format>', 'text or json', 'text')
    .action((dir: string | undefined, options: LogsOptions) =>
      run(async () => {
        const level = options.level?.toUpperCase();
        if (level && !['DEBUG', 'INFO', 'WARNING', 'ERROR'].includes(level)) {
          throw new UserError(`--level ${options.level}: expected DEBUG, INFO, WARNING or ERROR`);
        }
        const client = new ApiClient(resolveConnection());
        const model = modelRef(options.model, dir);
        let deployment = options.deployment;
        if (!deployment) {
          const all = await client.listDeployments(model);
          const chosen = all.find((d) => d.environment === 'production') ?? all.at(-1);
          if (!chosen) throw new UserError(`model ${model} has no deployments yet`);
          deployment = chosen.id;
        }
        const d = await client.getDeployment(model, deployment);
        const filters = {
          replica: options.replica,
          level,
          request_id: options.requestId,
          search: options.search,
        };
        const lines = await client.logs(model, d.id, {
          ...filters,
          since: options.since,
          until: options.until,
          limit: 10000,
          newest: 'true',
        });
        if (options.output === 'json') return printJson({ logs: lines });
        for (const l of lines) process.stdout.write(formatLogLine(l) + '\n');
        if (options.tail) await tailForever(client, d, lines.at(-1)?.id ?? 0, filters);
      }, options.output === 'json'),
    );
}

// `plinth autoscaling get|set`: a deployment's (or an environment's) autoscaling settings.
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
import { modelRef } from '../model-dir.ts';
import { printJson } from '../output.ts';
import { settingsBody } from './environments.ts';

interface Options {
  model?: string;
  deployment?: string;
  environment?: string;
  output?: string;
  minReplica?: string;
  maxReplica?: string;
  concurrencyTarget?: string;
  targetUtilization?: string;
  window?: string;
  scaleDownDelay?: string;
  maxScaleDownRate?: string;
}

function path(client: ApiClient, model: string, o: Options): { path: string; env: boolean } {
  if (o.deployment && o.environment) throw new UserError('pass --deployment or --environment, not both');
  if (o.deployment) {
    return {
      path: `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(o.deployment)}/autoscaling_settings`,
      env: false,
    };
  }
  return { path: client.env(model, o.environment ?? 'production'), env: true };
}

function print(settings: Record<string, number | null>): void {
  for (const [k, v] of Object.entries(settings)) process.stdout.write(`${k.padEnd(30)} ${v ?? 'none'}\n`);
}

/** `--max-scale-down-rate`: a whole percent, or `none` for no limit (the API checks the range). */
function scaleDownRate(value: string): number | null {
  if (value === 'none') return null;
  if (!/^\d+$/.test(value))
    throw new UserError(`--max-scale-down-rate ${value}: expected a whole percent (1–50) or none`);
  return Number(value);
}

export function registerAutoscaling(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const group = program
    .command('autoscaling')
    .description('Autoscaling settings of an environment (default production) or a deployment');
  const common = (c: Command): Command =>
    c
      .option('--model <model>', 'model id or name')
      .option('--deployment <id>', 'a deployment')
      .option('--environment <name>', 'an environment (default production)')
      .option('--output <format>', 'text or json', 'text');

  common(group.command('get').description('Show the settings')).action((o: Options) =>
    run(async () => {
      const client = new ApiClient(resolveConnection());
      const target = path(client, modelRef(o.model, undefined), o);
      const answer = await client.request<Record<string, unknown>>('GET', target.path);
      const settings = (target.env ? answer.autoscaling_settings : answer) as Record<string, number | null>;
      if (o.output === 'json') return printJson(settings);
      print(settings);
    }, o.output === 'json'),
  );

  common(group.command('set').description('Change some settings'))
    .option('--min-replica <n>')
    .option('--max-replica <n>')
    .option('--concurrency-target <n>')
    .option('--target-utilization <percent>')
    .option('--window <seconds>', 'autoscaling_window')
    .option('--scale-down-delay <seconds>')
    .option(
      '--max-scale-down-rate <percent>',
      'most percent of the replicas removed per window (1–50), or none for no limit',
    )
    .action((o: Options) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const target = path(client, modelRef(o.model, undefined), o);
        const body = (settingsBody(o).autoscaling_settings ?? {}) as Record<string, number | null>;
        for (const [flag, key, value] of [
          ['--target-utilization', 'target_utilization_percentage', o.targetUtilization],
          ['--window', 'autoscaling_window', o.window],
          ['--scale-down-delay', 'scale_down_delay', o.scaleDownDelay],
        ] as const) {
          if (value === undefined) continue;
          if (!/^\d+$/.test(value)) throw new UserError(`${flag} ${value}: expected a whole number`);
          body[key] = Number(value);
        }
        if (o.maxScaleDownRate !== undefined) body.max_scale_down_rate = scaleDownRate(o.maxScaleDownRate);
        if (Object.keys(body).length === 0)
          throw new UserError('nothing to set: pass at least one setting, e.g. --max-replica 3');
        const answer = await client.request<Record<string, unknown>>(
          'PATCH',
          target.path,
          target.env ? { autoscaling_settings: body } : body,
        );
        const settings = (target.env ? answer.autoscaling_settings : answer) as Record<string, number | null>;
        if (o.output === 'json') return printJson(settings);
        print(settings);
      }, o.output === 'json'),
    );
}

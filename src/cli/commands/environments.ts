// `plinth environments list|create|update|promote|cancel-promotion|pause-promotion|resume-promotion|
// force-cancel-promotion|force-roll-forward-promotion|activate|deactivate|history|delete`.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import type { EnvironmentInfo } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
import { modelRef } from '../model-dir.ts';
import { printJson, printTable } from '../output.ts';

type Run = (fn: () => Promise<void>, json: boolean) => Promise<void>;

interface Common {
  model?: string;
  output?: string;
}

interface SettingsOptions extends Common {
  minReplica?: string;
  maxReplica?: string;
  concurrencyTarget?: string;
  cleanup?: string;
  rampUp?: string;
  rollingDeploy?: boolean;
  maxSurgePercent?: string;
  maxUnavailablePercent?: string;
  stabilizationTime?: string;
  redeployOnPromotion?: boolean;
  instanceType?: string;
  public?: boolean;
}

function int(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UserError(`${flag} ${value}: expected a whole number`);
  return n;
}

/** Flags → the settings body of POST/PATCH environments. */
export function settingsBody(o: SettingsOptions): Record<string, unknown> {
  const autoscaling = Object.fromEntries(
    Object.entries({
      min_replica: int('--min-replica', o.minReplica),
      max_replica: int('--max-replica', o.maxReplica),
      concurrency_target: int('--concurrency-target', o.concurrencyTarget),
    }).filter(([, v]) => v !== undefined),
  );
  const promotion: Record<string, unknown> = {};
  if (o.cleanup) promotion.cleanup_strategy = o.cleanup.toUpperCase();
  if (o.rampUp !== undefined) {
    const seconds = int('--ramp-up', o.rampUp)!;
    promotion.ramp_up_while_promoting = seconds > 0;
    if (seconds > 0) promotion.ramp_up_duration_seconds = seconds;
  }
  if (o.rollingDeploy !== undefined) promotion.rolling_deploy = o.rollingDeploy;
  const rolling = Object.fromEntries(
    Object.entries({
      max_surge_percent: int('--max-surge-percent', o.maxSurgePercent),
      max_unavailable_percent: int('--max-unavailable-percent', o.maxUnavailablePercent),
      stabilization_time_seconds: int('--stabilization-time', o.stabilizationTime),
    }).filter(([, v]) => v !== undefined),
  );
  if (Object.keys(rolling).length > 0) promotion.rolling_deploy_config = rolling;
  if (o.redeployOnPromotion !== undefined) promotion.redeploy_on_promotion = o.redeployOnPromotion;
  const body: Record<string, unknown> = {};
  if (Object.keys(autoscaling).length > 0) body.autoscaling_settings = autoscaling;
  if (Object.keys(promotion).length > 0) body.promotion_settings = promotion;
  if (o.instanceType) body.instance_type_name = o.instanceType;
  if (o.public !== undefined) body.public = o.public;
  return body;
}

function show(env: EnvironmentInfo): void {
  const p = env.in_progress_promotion;
  process.stdout.write(
    [
      `name         ${env.name}${env.is_active === false ? ' (inactive)' : ''}`,
      `deployment   ${env.current_deployment ? `${env.current_deployment.name} (${env.current_deployment.id}) ${env.current_deployment.status}` : '-'}`,
      `url          ${env.predict_url}`,
      `autoscaling  ${JSON.stringify(env.autoscaling_settings)}`,
      `promotion    ${JSON.stringify(env.promotion_settings)}`,
      `in progress  ${p ? `→ ${p.to_deployment_id} ${p.phase}${p.is_paused ? ' (paused)' : ''} ${p.traffic_percent}%` : '-'}`,
    ].join('\n') + '\n',
  );
}

/** Waits until the environment's promotion to `deploymentId` has ended; throws if it failed. */
export async function waitForPromotion(
  client: ApiClient,
  model: string,
  env: string,
  /** When the promote call was made: older finished promotions are not this one. */
  sinceMs: number,
  onProgress?: (text: string) => void,
): Promise<EnvironmentInfo> {
  let last = '';
  for (;;) {
    const info = await client.getEnvironment(model, env);
    const p = info.in_progress_promotion;
    if (!p) {
      const latest = info.promotions?.[0];
      const ours = latest && Date.parse(latest.started_at) >= sinceMs;
      // Read between the two queries of one answer (or from a store a moment behind): not over yet.
      if (latest && ours && latest.status === 'IN_PROGRESS') {
        await sleep(200);
        continue;
      }
      if (latest && ours && latest.status !== 'SUCCEEDED') {
        throw new UserError(
          `promotion to ${env} ${latest.status}: ${latest.reason ?? 'no reason recorded'}`,
          `PROMOTION_${latest.status}`,
        );
      }
      return info;
    }
    const split = p.phase === 'RAMPING' || p.phase === 'ROLLING' || p.phase === 'ROLLING_BACK';
    const text = `promoting to ${env}: ${p.phase.toLowerCase().replace(/_/g, ' ')}${split ? ` (${p.traffic_percent}% of traffic)` : ''}${p.is_paused ? ', paused' : ''}`;
    if (text !== last) onProgress?.(text);
    last = text;
    await sleep(200);
  }
}

export function registerEnvironments(program: Command, run: Run): void {
  const group = program
    .command('environments')
    .description("A model's environments: stable URLs, settings, promotion");
  const withModel = (c: Command): Command =>
    c
      .option('--model <model>', 'model id or name (default: the model directory here)')
      .option('--output <format>', 'text or json', 'text');
  const withSettings = (c: Command): Command =>
    c
      .option('--min-replica <n>', 'autoscaling: fewest replicas')
      .option('--max-replica <n>', 'autoscaling: most replicas')
      .option('--concurrency-target <n>', 'autoscaling: requests per replica to aim for')
      .option(
        '--cleanup <strategy>',
        'after a promotion, the old deployment: scale_to_zero, keep or deactivate',
      )
      .option('--ramp-up <seconds>', 'move traffic gradually over this many seconds (0: at once)')
      .option('--rolling-deploy', 'replace the old deployment’s replicas in steps when promoting')
      .option('--no-rolling-deploy', 'switch at once (or ramp) when promoting (the default)')
      .option('--max-surge-percent <n>', 'rolling deploy: replicas above the old count, % of it')
      .option('--max-unavailable-percent <n>', 'rolling deploy: replicas below the old count, % of it')
      .option(
        '--stabilization-time <seconds>',
        'rolling deploy: how long each step stays ready before the next',
      )
      .option('--redeploy-on-promotion', 'promote a fresh deployment of the candidate’s bundle')
      .option('--no-redeploy-on-promotion', 'promote the candidate itself (the default)')
      .option('--instance-type <name>', 'instance type for the deployments it serves')
      .option('--public', 'answer inference on its URL without an API key')
      .option('--no-public', 'require an API key for inference (the default)');

  withModel(group.command('list').description('List environments')).action((o: Common) =>
    run(async () => {
      const client = new ApiClient(resolveConnection());
      const model = modelRef(o.model, undefined);
      const { environments } = await client.request<{ environments: EnvironmentInfo[] }>(
        'GET',
        `/v1/models/${encodeURIComponent(model)}/environments`,
      );
      if (o.output === 'json') return printJson({ environments });
      printTable(
        ['NAME', 'DEPLOYMENT', 'STATUS', 'PROMOTION', 'URL'],
        environments.map((e) => [
          e.name,
          e.current_deployment ? `${e.current_deployment.name} (${e.current_deployment.id})` : '-',
          e.current_deployment?.status ?? '-',
          e.in_progress_promotion
            ? `${e.in_progress_promotion.phase} ${e.in_progress_promotion.traffic_percent}%`
            : '-',
          e.predict_url,
        ]),
      );
    }, o.output === 'json'),
  );

  withSettings(
    withModel(group.command('create').argument('<name>').description('Create an environment')),
  ).action((name: string, o: SettingsOptions) =>
    run(async () => {
      const client = new ApiClient(resolveConnection());
      const model = modelRef(o.model, undefined);
      const env = await client.request<EnvironmentInfo>(
        'POST',
        `/v1/models/${encodeURIComponent(model)}/environments`,
        { name, ...settingsBody(o) },
      );
      if (o.output === 'json') return printJson(env);
      show(env);
    }, o.output === 'json'),
  );

  withSettings(
    withModel(group.command('update').argument('<name>').description("Change an environment's settings")),
  ).action((name: string, o: SettingsOptions) =>
    run(async () => {
      const client = new ApiClient(resolveConnection());
      const model = modelRef(o.model, undefined);
      const env = await client.request<EnvironmentInfo>('PATCH', client.env(model, name), settingsBody(o));
      if (o.output === 'json') return printJson(env);
      show(env);
    }, o.output === 'json'),
  );

  withModel(
    group
      .command('promote')
      .argument('<name>', 'environment')
      .argument('<deployment>', 'deployment id or name')
      .option('--preserve-previous-deployment', 'keep the deployment it replaces running')
      .option('--no-wait', 'return once the promotion has started')
      .description('Promote a deployment to an environment'),
  ).action(
    (name: string, deployment: string, o: Common & { preservePreviousDeployment?: boolean; wait: boolean }) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const model = modelRef(o.model, undefined);
        const d = await client.getDeployment(model, deployment);
        const sinceMs = Date.now();
        let env = await client.promote(model, name, d.id, o.preservePreviousDeployment);
        if (o.wait)
          env = await waitForPromotion(
            client,
            model,
            name,
            sinceMs,
            (t) => o.output !== 'json' && process.stderr.write(`→ ${t}\n`),
          );
        if (o.output === 'json') return printJson(env);
        show(env);
      }, o.output === 'json'),
  );

  for (const [command, route, description] of ENVIRONMENT_ACTIONS) {
    withModel(group.command(command).argument('<name>', 'environment').description(description)).action(
      (name: string, o: Common) =>
        run(async () => {
          const client = new ApiClient(resolveConnection());
          const model = modelRef(o.model, undefined);
          const env = await client.request<EnvironmentInfo>(
            'POST',
            `${client.env(model, name)}/${route}`,
            {},
          );
          if (o.output === 'json') return printJson(env);
          show(env);
        }, o.output === 'json'),
    );
  }

  withModel(
    group
      .command('history')
      .argument('<name>', 'environment')
      .description('Promotions of an environment, newest first, with who did what and when'),
  ).action((name: string, o: Common) =>
    run(async () => {
      const client = new ApiClient(resolveConnection());
      const info = await client.getEnvironment(modelRef(o.model, undefined), name);
      const promotions = info.promotions ?? [];
      if (o.output === 'json') return printJson({ promotions });
      printTable(
        ['STARTED', 'TO', 'STATUS', 'TRAFFIC', 'ACTIONS'],
        promotions.map((p) => [
          p.started_at,
          p.to_deployment_id,
          `${p.status}${p.is_paused ? ' (paused)' : ''}`,
          `${p.traffic_percent}%`,
          p.actions.map((a) => `${a.action} by ${a.by} at ${a.at}`).join('; '),
        ]),
      );
    }, o.output === 'json'),
  );

  withModel(
    group.command('delete').argument('<name>').description('Delete an environment (not production)'),
  ).action((name: string, o: Common) =>
    run(async () => {
      const client = new ApiClient(resolveConnection());
      const result = await client.request('DELETE', client.env(modelRef(o.model, undefined), name));
      if (o.output === 'json') return printJson(result);
      process.stdout.write(`deleted environment ${name}\n`);
    }, o.output === 'json'),
  );
}

/** Commands that act on an environment or its promotion: command, route, description. */
const ENVIRONMENT_ACTIONS: [string, string, string][] = [
  [
    'cancel-promotion',
    'cancel_promotion',
    'Cancel the promotion in progress (a rolling deploy rolls back in steps)',
  ],
  ['pause-promotion', 'pause_promotion', 'Pause the promotion in progress: traffic and replicas hold'],
  ['resume-promotion', 'resume_promotion', 'Resume a paused promotion from where it stood'],
  [
    'force-cancel-promotion',
    'force_cancel_promotion',
    'Send all traffic back to the previous deployment now',
  ],
  ['force-roll-forward-promotion', 'force_roll_forward_promotion', 'Send all traffic to the candidate now'],
  ['activate', 'activate', 'Activate an environment and the deployment it serves'],
  ['deactivate', 'deactivate', 'Deactivate an environment: its URL answers ENVIRONMENT_INACTIVE'],
];

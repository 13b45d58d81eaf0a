// `plinth push [DIR]`: validate, pack, upload only if missing, create the deployment, then (by
// default) follow its phases until it is ACTIVE or failed, and print how to call it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import ora from 'ora';
import { isFailedOrUnhealthy } from '../../domain/deployment-status.ts';
import { ApiClient } from '../api-client.ts';
import type { DeploymentInfo } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
import { packModelDir, readModelDir } from '../model-dir.ts';
import { formatLogLine, printJson, shellWord } from '../output.ts';
import { waitForPromotion } from './environments.ts';
import { snapshotDirectory } from '../../bundle/patch.ts';
import { watchDevelopment } from '../dev-watch.ts';
import type { Synced } from '../dev-watch.ts';

interface PushOptions {
  /** The model's name, over config.yaml's model_name and the directory's name. */
  modelName?: string;
  deploymentName?: string;
  wait: boolean;
  tail?: boolean;
  output?: string;
  promote?: boolean;
  environment?: string;
  preservePreviousProductionDeployment?: boolean;
  watch?: boolean;
  /** Refuse to push a directory whose config.yaml draws warnings. */
  strict?: boolean;
}

const PHASES: Record<string, string> = {
  BUILDING: 'Building the model environment',
  DEPLOYING: 'Starting a replica',
  LOADING_MODEL: 'Loading the model',
  WAKING_UP: 'Waking up',
};

export interface PushResult {
  deployment: DeploymentInfo;
  elapsedMs: number;
  /** The last log line shown while following the push (for --tail to go on from). */
  lastLogId: number;
  /** What config.yaml's check said (printed unless --output json, where it is a field). */
  warnings: string[];
}

/** Pushes a model directory; used by `plinth push` and by `plinth up --with-example`. */
export async function pushModel(
  client: ApiClient,
  dirArg: string,
  options: PushOptions & { quiet?: boolean; reuseProduction?: boolean },
): Promise<PushResult> {
  const started = Date.now();
  const json = options.output === 'json';
  const say = (line: string): void => {
    if (!json && !options.quiet) process.stderr.write(line + '\n');
  };
  const model = readModelDir(dirArg, options.modelName);
  if (options.strict && model.warnings.length > 0) {
    throw new UserError(
      `--strict: ${model.warnings.length === 1 ? 'a warning stops' : `${model.warnings.length} warnings stop`} the push:\n` +
        model.warnings.map((w) => `  ${w}`).join('\n'),
    );
  }
  for (const w of model.warnings) say(`warning: ${w}`);
  const progress = makeProgress(!json && !options.quiet, !options.tail && Boolean(process.stderr.isTTY));
  progress.phase(`Packing ${dirArg}`);
  const bundle = await packModelDir(model);
  if (await client.hasBundle(bundle.sha256)) {
    progress.phase('Bundle already on the server');
  } else {
    progress.phase(`Uploading bundle (${(bundle.bytes.length / 1024).toFixed(1)} KiB)`);
    await client.uploadBundle(bundle.sha256, bundle.bytes);
  }
  // `plinth up --with-example` on a home that already serves this very bundle reuses it.
  const current = options.reuseProduction
    ? await client.getDeployment(model.modelName, 'production').catch(() => undefined)
    : undefined;
  let deployment =
    current && current.bundle_sha256 === bundle.sha256 && !isFailedOrUnhealthy(current.status)
      ? current
      : await client.createDeployment(model.modelName, {
          bundle_sha256: bundle.sha256,
          deployment_name: options.deploymentName,
          development: options.watch,
        });
  progress.phase(
    `${model.modelName}: ${deployment.name} (${deployment.id}) ${deployment === current ? 'reused' : 'created'}`,
  );
  if (!options.wait) {
    progress.done(true, `${model.modelName}: ${deployment.name} (${deployment.id}) created`);
    return { deployment, elapsedMs: Date.now() - started, lastLogId: 0, warnings: model.warnings };
  }

  let lastStatus = '';
  let afterId = 0;
  let buildLogAfter = 0;
  let buildLogAtMs = 0;
  for (;;) {
    // While it builds (and once as it stops), the latest download line is the phase.
    if (
      !options.tail &&
      !json &&
      !options.quiet &&
      ((deployment.status === 'BUILDING' && Date.now() - buildLogAtMs >= 1000) ||
        (lastStatus === 'BUILDING' && deployment.status !== 'BUILDING'))
    ) {
      buildLogAtMs = Date.now();
      const lines = await client
        .logs(deployment.model_id, deployment.id, { after_id: buildLogAfter, limit: 1000 })
        .catch(() => []);
      for (const l of lines) buildLogAfter = l.id;
      const download = lines.filter((l) => /^downloading |: \d+ files? \(.*\) in /.test(l.message)).at(-1);
      if (download) progress.phase(download.message);
    }
    if (options.tail) {
      const lines = await client.logs(deployment.model_id, deployment.id, { after_id: afterId, limit: 1000 });
      for (const l of lines) {
        process.stdout.write(formatLogLine(l) + '\n');
        afterId = l.id;
      }
    }
    if (deployment.status !== lastStatus) {
      lastStatus = deployment.status;
      const phase = PHASES[deployment.status];
      if (phase) progress.phase(`${phase}…`);
    }
    // A deployment whose settings let it go to zero at once may be there before this sees it ACTIVE.
    if (
      deployment.status === 'ACTIVE' ||
      deployment.status === 'SCALED_TO_ZERO' ||
      isFailedOrUnhealthy(deployment.status)
    )
      break;
    await sleep(150);
    deployment = await client.getDeployment(deployment.model_id, deployment.id);
  }
  const elapsedMs = Date.now() - started;
  if (isFailedOrUnhealthy(deployment.status)) {
    progress.done(false, `${deployment.name} is ${deployment.status}`);
    throw new UserError(
      `${model.modelName} ${deployment.name} (${deployment.id}) is ${deployment.status}: ${deployment.status_reason ?? 'no reason recorded'}\n` +
        `  see its logs: plinth logs --model ${shellWord(model.modelName)} --deployment ${deployment.id}`,
      deployment.status,
    );
  }
  progress.done(
    true,
    deployment.status === 'SCALED_TO_ZERO'
      ? `${model.modelName} ${deployment.name} is ready and already scaled to zero (a request wakes it) (${(elapsedMs / 1000).toFixed(1)} s)`
      : `${model.modelName} ${deployment.name} is ACTIVE (${(elapsedMs / 1000).toFixed(1)} s)`,
  );
  return { deployment, elapsedMs, lastLogId: afterId, warnings: model.warnings };
}

interface Progress {
  phase(text: string): void;
  done(ok: boolean, text: string): void;
}

/** A spinner on a terminal; plain lines elsewhere (CI logs, --tail); nothing when quiet. */
function makeProgress(visible: boolean, animated: boolean): Progress {
  if (!visible) return { phase: () => {}, done: () => {} };
  if (!animated) {
    return {
      phase: (text) => process.stderr.write(`→ ${text}\n`),
      done: (ok, text) => process.stderr.write(`${ok ? '✔' : '✖'} ${text}\n`),
    };
  }
  const spinner = ora({ stream: process.stderr }).start();
  return {
    phase: (text) => {
      spinner.text = text;
    },
    done: (ok, text) => (ok ? spinner.succeed(text) : spinner.fail(text)),
  };
}

export function describeCall(d: DeploymentInfo, example = '{}'): string {
  return [
    `  curl -X POST ${d.predict_url} -H "Authorization: Api-Key $PLINTH_API_KEY" -d '${example}'`,
    `  plinth predict --model ${shellWord(d.model_name)}${d.is_development ? ' --development' : d.environment ? '' : ` --deployment ${d.id}`} -d '${example}'`,
  ].join('\n');
}

export function registerPush(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('push')
    .description('Deploy a model directory as a new deployment')
    .argument('[dir]', 'the model directory', '.')
    .option(
      '--model-name <name>',
      "the model's name (default: config.yaml's model_name, else the directory's name)",
    )
    .option('--deployment-name <name>', 'name the deployment (default deployment-N)')
    .option('--wait', 'wait until the deployment is ACTIVE (default)', true)
    .option('--no-wait', 'return as soon as the deployment is created')
    .option('--tail', 'stream the deployment logs')
    .option('--promote', 'promote the new deployment to production once it is ready')
    .option('--environment <name>', 'promote the new deployment to this environment')
    .option('--preserve-previous-production-deployment', 'keep the deployment it replaces running')
    .option('--watch', 'create or update the development deployment, then live-reload it as you edit')
    .option('--strict', "treat config.yaml's warnings (keys Plinth ignores, values it drops) as errors")
    .option('--output <format>', 'text or json', 'text')
    .action((dir: string, options: PushOptions) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        if (options.watch) return pushAndWatch(client, dir, options);
        const pushed = await pushModel(client, dir, options);
        let deployment = pushed.deployment;
        const target = options.environment ?? (options.promote ? 'production' : undefined);
        if (target) {
          const sinceMs = Date.now();
          await client.promote(
            deployment.model_id,
            target,
            deployment.id,
            options.preservePreviousProductionDeployment,
          );
          if (options.wait) {
            await waitForPromotion(client, deployment.model_id, target, sinceMs, (t) =>
              options.output !== 'json' ? process.stderr.write(`→ ${t}\n`) : undefined,
            );
            deployment = await client.getDeployment(deployment.model_id, deployment.id);
          }
        }
        const lastLogId = pushed.lastLogId;
        if (options.output === 'json') {
          printJson({
            model_id: deployment.model_id,
            model_name: deployment.model_name,
            deployment_id: deployment.id,
            deployment_name: deployment.name,
            predict_url: deployment.predict_url,
            status: deployment.status,
            warnings: pushed.warnings,
          });
          return;
        }
        process.stdout.write(`Call it:\n${describeCall(deployment)}\n`);
        if (options.tail) await tailForever(client, deployment, lastLogId);
      }, options.output === 'json'),
    );
}

/** `plinth push --watch`: the development deployment from this directory, then the watch. */
async function pushAndWatch(client: ApiClient, dir: string, options: PushOptions): Promise<void> {
  if (options.promote || options.environment) {
    throw new UserError('the development deployment cannot be promoted: push without --watch to promote');
  }
  const model = readModelDir(dir, options.modelName);
  const snapshot = snapshotDirectory(model.dir);
  let synced: Synced;
  let afterLogId = 0;
  // An existing development deployment asleep at zero wakes now, so the push finds it ACTIVE.
  await client.keepAwake(model.modelName, 60).catch(() => undefined);
  try {
    const pushed = await pushModel(client, dir, { ...options, wait: true });
    synced = { deployment: pushed.deployment, snapshot };
    afterLogId = pushed.lastLogId;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    // It exists but did not build or load: say why and watch, so that the next save can fix it.
    const deployment = await client.getDeployment(model.modelName, 'development').catch(() => {
      throw err;
    });
    process.stderr.write(`✖ ${err.message}\n`);
    synced = { deployment, snapshot: new Map() };
  }
  process.stdout.write(`Call it:\n${describeCall(synced.deployment)}\n`);
  await watchDevelopment(client, dir, synced, { tail: options.tail, afterLogId });
}

export async function tailForever(
  client: ApiClient,
  d: DeploymentInfo,
  fromId: number,
  filters: Record<string, string | undefined> = {},
): Promise<void> {
  let afterId = fromId;
  for (;;) {
    await sleep(500);
    const lines = await client.logs(d.model_id, d.id, { ...filters, after_id: afterId, limit: 1000 });
    for (const l of lines) {
      process.stdout.write(formatLogLine(l) + '\n');
      afterId = l.id;
    }
  }
}

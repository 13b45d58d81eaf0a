// `plinth watch [DIR]`: attaches to the model's development deployment (waking it), brings it up
// to date with the directory, and live-reloads it on every save. `plinth push --watch` creates it.
import type { Command } from 'commander';
import { snapshotDirectory } from '../../bundle/patch.ts';
import { ApiClient } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { fullSync, watchDevelopment } from '../dev-watch.ts';
import type { Synced } from '../dev-watch.ts';
import { ApiError, UserError } from '../errors.ts';
import { packModelDir, readModelDir } from '../model-dir.ts';
import { describeCall } from './push.ts';

export async function attachDevelopment(client: ApiClient, dir: string, modelName?: string): Promise<Synced> {
  const model = readModelDir(dir, modelName);
  const deployment = await client.getDeployment(model.modelName, 'development').catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 404) {
      throw new UserError(
        `model ${model.modelName} has no development deployment; create one with \`plinth push --watch ${dir}\``,
      );
    }
    throw err;
  });
  await client.keepAwake(model.modelName, 60);
  const snapshot = snapshotDirectory(model.dir);
  const bundle = await packModelDir(model);
  if (bundle.sha256 === deployment.bundle_sha256) return { deployment, snapshot };
  process.stderr.write('→ the development deployment runs other files: sending the whole directory\n');
  return fullSync(client, dir, model.modelName);
}

export function registerWatch(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('watch')
    .description("Live-reload the model's development deployment as you edit")
    .argument('[dir]', 'the model directory', '.')
    .option('--tail', 'show the replica logs with the reload results')
    .option(
      '--model-name <name>',
      "the model's name, over config.yaml's model_name (as plinth push --model-name)",
    )
    .action((dir: string, options: { tail?: boolean; modelName?: string }) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const synced = await attachDevelopment(client, dir, options.modelName);
        process.stdout.write(`Call it:\n${describeCall(synced.deployment)}\n`);
        await watchDevelopment(client, dir, synced, { tail: options.tail });
      }, false),
    );
}

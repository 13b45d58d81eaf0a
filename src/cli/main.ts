// The `plinth` command line: one file per command group under commands/.
import { Command } from 'commander';
import { PLINTH_VERSION } from '../domain/version.ts';
import { registerAutoscaling } from './commands/autoscaling.ts';
import { registerDeployments } from './commands/deployments.ts';
import { registerEnvironments } from './commands/environments.ts';
import { registerFetchArtifacts } from './commands/fetch-artifacts.ts';
import { registerInit } from './commands/init.ts';
import { registerInstanceTypes } from './commands/instance-types.ts';
import { registerKeys } from './commands/keys.ts';
import { registerLogs } from './commands/logs.ts';
import { registerMetrics } from './commands/metrics.ts';
import { registerModels } from './commands/models.ts';
import { registerPredict } from './commands/predict.ts';
import { registerAsync } from './commands/async.ts';
import { registerWebhooks } from './commands/webhooks.ts';
import { registerPush } from './commands/push.ts';
import { registerReplicas } from './commands/replicas.ts';
import { registerUp } from './commands/up.ts';
import { registerGateway } from './commands/gateway.ts';
import { registerWatch } from './commands/watch.ts';
import { exitWith } from './errors.ts';

async function run(fn: () => Promise<void>, json: boolean): Promise<void> {
  try {
    await fn();
  } catch (err) {
    exitWith(err, json);
  }
}

const program = new Command()
  .name('plinth')
  .description('Self-hosted model deployment: push a model directory, get an autoscaled HTTP endpoint.')
  .version(PLINTH_VERSION)
  .showHelpAfterError();

registerUp(program, run);
registerGateway(program, run);
registerFetchArtifacts(program, run);
registerInit(program, run);
registerPush(program, run);
registerWatch(program, run);
registerPredict(program, run);
registerAsync(program, run);
registerWebhooks(program, run);
registerModels(program, run);
registerDeployments(program, run);
registerReplicas(program, run);
registerEnvironments(program, run);
registerAutoscaling(program, run);
registerLogs(program, run);
registerMetrics(program, run);
registerInstanceTypes(program, run);
registerKeys(program, run);

await program.parseAsync(process.argv);

// A promotion switched an environment to a deployment: its model servers are told, so that the
// model's setup_environment() runs for the new environment without a restart; each answer is a
// platform log line on the deployment.
import { customServerOf } from '../domain/custom-server.ts';
import type { LogSink } from '../observability/log-sink.ts';
import type { RuntimeBackend } from '../runtime/backend.ts';
import { tellEnvironment } from '../runtime/replica-environment.ts';
import type { Store } from '../store/store.ts';
import type { EnvironmentSwitch } from './promotion-controller.ts';

/**
 * A promotion switched an environment to a deployment: its model servers run the model's
 * setup_environment() for it, without a restart (a custom server has no such route; not told).
 */
export async function tellReplicasEnvironment(
  store: Store,
  backend: RuntimeBackend,
  logs: LogSink,
  change: EnvironmentSwitch,
): Promise<void> {
  try {
    const d = await store.getDeployment(change.deploymentId);
    if (!d || customServerOf(d.config)) return;
    // Loading ones too: a model server told while load() runs sets the environment up after it.
    const live = backend
      .list(d.id)
      .filter((r) => (r.phase === 'READY' || r.phase === 'STARTING') && r.address);
    await Promise.all(
      live.map(async (r) => {
        const answer = await tellEnvironment(r, change.environment);
        const told = answer === 200;
        logs.write(
          { model_id: d.model_id, deployment_id: d.id, replica_id: r.id },
          'platform',
          told ? 'INFO' : 'WARNING',
          told
            ? `replica ${r.id} now serves environment ${change.environment} (setup_environment)`
            : `replica ${r.id} was not told it now serves ${change.environment} (${answer}); its next start will be`,
        );
      }),
    );
  } catch (err) {
    console.error(`telling ${change.deploymentId} its environment: ${(err as Error).message}`);
  }
}

// `plinth replicas list|terminate`: a deployment's live replicas, and terminating one of them
// (drained, then stopped; the platform starts a replacement while the deployment wants it).
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import type { DeploymentInfo } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { ApiError, UserError } from '../errors.ts';
import { modelRef } from '../model-dir.ts';
import { printJson, printTable } from '../output.ts';

interface ReplicaInfo {
  id: string;
  status: string;
  address: string | null;
  started_at: string;
  stopped_at: string | null;
  exit_reason: string | null;
  in_flight: number;
  instance_type: string | null;
}

interface Options {
  model?: string;
  deployment?: string;
  environment?: string;
  output?: string;
}

function replicasPath(model: string, deploymentId: string): string {
  return `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deploymentId)}/replicas`;
}

/** The deployment a command is about: --deployment, else what --environment (production) serves. */
async function targetDeployment(
  client: ApiClient,
  model: string,
  o: Options,
): Promise<{ id: string; name: string }> {
  if (o.deployment && o.environment) throw new UserError('pass --deployment or --environment, not both');
  if (o.deployment) return client.getDeployment(model, o.deployment);
  const name = o.environment ?? 'production';
  const env = await client.getEnvironment(model, name);
  if (!env.current_deployment)
    throw new UserError(`environment ${name} of model ${model} serves no deployment yet`);
  return env.current_deployment;
}

async function listReplicas(client: ApiClient, model: string, deploymentId: string): Promise<ReplicaInfo[]> {
  return (await client.request<{ replicas: ReplicaInfo[] }>('GET', replicasPath(model, deploymentId)))
    .replicas;
}

/** Terminates `replicaId` of deployment `d` (a repeat answers its state). */
function terminate(
  client: ApiClient,
  model: string,
  d: { id: string },
  replicaId: string,
): Promise<ReplicaInfo> {
  return client.request<ReplicaInfo>(
    'DELETE',
    `${replicasPath(model, d.id)}/${encodeURIComponent(replicaId)}`,
  );
}

/**
 * Without --deployment: asks each of the model's deployments, those with replicas first; only the
 * one the replica belongs to does anything (the others answer REPLICA_NOT_FOUND).
 */
async function terminateAnywhere(
  client: ApiClient,
  model: string,
  replicaId: string,
): Promise<{ deployment: DeploymentInfo; replica: ReplicaInfo }> {
  const all = await client.listDeployments(model);
  const ordered = [
    ...all.filter((d) => d.active_replica_count > 0),
    ...all.filter((d) => d.active_replica_count === 0),
  ];
  for (const deployment of ordered) {
    try {
      return { deployment, replica: await terminate(client, model, deployment, replicaId) };
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'REPLICA_NOT_FOUND')) throw err;
    }
  }
  throw new UserError(
    `model ${model} has no replica ${replicaId} (see \`plinth replicas list\`)`,
    'REPLICA_NOT_FOUND',
  );
}

export function registerReplicas(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const group = program.command('replicas').description("List a deployment's replicas, or terminate one");

  group
    .command('list')
    .description("List a deployment's live replicas (default: the one production serves)")
    .option('--model <model>', 'model id or name (default: the model directory here)')
    .option('--deployment <id>', 'deployment id or name, or production / development')
    .option('--environment <name>', "the environment's current deployment (default production)")
    .option('--output <format>', 'text or json', 'text')
    .action((o: Options) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const model = modelRef(o.model, undefined);
        const d = await targetDeployment(client, model, o);
        const replicas = await listReplicas(client, model, d.id);
        if (o.output === 'json') return printJson({ deployment_id: d.id, replicas });
        printTable(
          ['ID', 'STATUS', 'IN FLIGHT', 'ADDRESS', 'INSTANCE TYPE', 'STARTED'],
          replicas.map((r) => [
            r.id,
            r.status,
            String(r.in_flight),
            r.address ?? '-',
            r.instance_type ?? '-',
            r.started_at,
          ]),
        );
      }, o.output === 'json'),
    );

  group
    .command('terminate')
    .description(
      'Terminate one replica: it drains (its requests finish, no new ones reach it), then stops; a replacement starts while the deployment still wants it',
    )
    .argument('<replica>', 'replica id (see `plinth replicas list`)')
    .option('--model <model>', 'model id or name (default: the model directory here)')
    .option('--deployment <id>', "the replica's deployment (default: whichever of the model's has it)")
    .option('--output <format>', 'text or json', 'text')
    .action((replicaId: string, o: Options) =>
      run(async () => {
        const client = new ApiClient(resolveConnection());
        const model = modelRef(o.model, undefined);
        let d: DeploymentInfo;
        let r: ReplicaInfo;
        if (o.deployment) {
          d = await client.getDeployment(model, o.deployment);
          r = await terminate(client, model, d, replicaId);
        } else ({ deployment: d, replica: r } = await terminateAnywhere(client, model, replicaId));
        if (o.output === 'json') return printJson(r);
        const stopping = r.status === 'DRAINING';
        process.stdout.write(
          stopping
            ? `replica ${r.id} of ${d.name} (${d.id}) is DRAINING: its requests finish, then it stops; a replacement starts while the deployment wants it\n`
            : `replica ${r.id} of ${d.name} (${d.id}) is ${r.status}${r.exit_reason ? ` (${r.exit_reason})` : ''}\n`,
        );
      }, o.output === 'json'),
    );
}

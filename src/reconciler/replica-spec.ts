// What a replica of a deployment runs: its build's app directory and model file, its config, and
// the environment variables and the values of the secrets the model declares.
import { customServerOf } from '../domain/custom-server.ts';
import { newId } from '../domain/ids.ts';
import { findInstanceType, resolveInstanceType } from '../domain/instance-types.ts';
import type { InstanceType, ResourceRequest } from '../domain/instance-types.ts';
import type { BuildRecord, Deployment } from '../domain/types.ts';
import type { ReplicaSpec } from '../runtime/backend.ts';
import type { Store } from '../store/store.ts';

/**
 * The instance type a deployment's replicas run on: the one it records; for a deployment from
 * before instance types (or whose type left the catalog), what its config resolves to now.
 */
export function instanceTypeOf(d: Deployment, catalog: readonly InstanceType[]): InstanceType {
  const named = findInstanceType(catalog, d.instance_type_name);
  if (named) return named;
  try {
    return resolveInstanceType((d.config as { resources?: ResourceRequest }).resources ?? {}, catalog);
  } catch {
    return resolveInstanceType({}, catalog);
  }
}

/**
 * A replica's spec. `environment` is the environment the deployment serves (or is being promoted
 * into): the model's `__init__(environment=…)` and `setup_environment()` get `{"name": …}`.
 */
export function replicaSpec(
  d: Deployment,
  build: BuildRecord,
  type: InstanceType,
  secrets: Record<string, string>,
  environment: string | null = null,
  replicaId = newId('r'),
): ReplicaSpec {
  const config = d.config as { environment_variables?: Record<string, string> };
  return {
    replicaId,
    deploymentId: d.id,
    modelId: d.model_id,
    revision: d.revision,
    language: build.language,
    appDir: build.appDir,
    modelFile: build.modelFile,
    config: d.config,
    env: {
      ...(config.environment_variables ?? {}),
      PLINTH_SECRETS_JSON: JSON.stringify(secrets),
      PLINTH_ENVIRONMENT_JSON: JSON.stringify(environment === null ? null : { name: environment }),
    },
    envDir: build.envDir,
    ...(build.baseEnvDir ? { baseEnvDir: build.baseEnvDir } : {}),
    server: customServerOf(d.config),
    resources: {
      instanceType: type.name,
      cpuMillis: type.cpuMillis,
      memoryBytes: type.memoryBytes,
      accelerator: type.accelerator,
    },
  };
}

/** The environment a deployment serves, or the one a promotion in progress is bringing it into. */
export async function environmentOf(
  store: Pick<Store, 'listEnvironments' | 'listPromotions'>,
  d: Deployment,
): Promise<string | null> {
  const serving = (await store.listEnvironments(d.model_id)).find((e) => e.current_deployment_id === d.id);
  if (serving) return serving.name;
  const promoting = (await store.listPromotions({ status: 'IN_PROGRESS' })).find(
    (p) => p.to_deployment_id === d.id,
  );
  return promoting?.environment_name ?? null;
}

/** The secrets a deployment declares (config.yaml `secrets`: name → default). */
export function declaredSecrets(d: Deployment): Record<string, string | null> {
  return (d.config as { secrets?: Record<string, string | null> }).secrets ?? {};
}

/** Why a deployment cannot start for want of secrets, naming them. */
export function missingSecretsReason(missing: string[]): string {
  const names = missing.map((n) => `"${n}"`).join(', ');
  return `secret${missing.length > 1 ? 's' : ''} ${names} ${missing.length > 1 ? 'are' : 'is'} not set: plinth secrets set ${missing[0]}`;
}

// What a replica of a deployment runs: its build's app directory and model file, its config, and
// the environment variables and secrets the model declares.
import type { BuildRecord } from '../builder/build-record.ts';
import { newId } from '../domain/ids.ts';
import { findInstanceType, resolveInstanceType } from '../domain/instance-types.ts';
import type { InstanceType, ResourceRequest } from '../domain/instance-types.ts';
import type { Deployment } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';
import type { ReplicaSpec } from '../runtime/backend.ts';

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

export function replicaSpec(
  d: Deployment,
  build: BuildRecord,
  home: PlinthHome,
  type: InstanceType,
  replicaId = newId('r'),
): ReplicaSpec {
  const config = d.config as {
    environment_variables?: Record<string, string>;
    secrets?: Record<string, string | null>;
  };
  // Until the secret store lands, a declared secret's value is its default in config.yaml.
  const secrets = Object.fromEntries(Object.entries(config.secrets ?? {}).filter(([, v]) => v !== null));
  return {
    replicaId,
    deploymentId: d.id,
    modelId: d.model_id,
    language: build.language,
    appDir: build.appDir ?? home.appDir(d.id),
    modelFile: build.modelFile,
    config: d.config,
    env: { ...(config.environment_variables ?? {}), PLINTH_SECRETS_JSON: JSON.stringify(secrets) },
    envDir: build.envDir,
    resources: {
      instanceType: type.name,
      cpuMillis: type.cpuMillis,
      memoryBytes: type.memoryBytes,
      accelerator: type.accelerator,
    },
  };
}

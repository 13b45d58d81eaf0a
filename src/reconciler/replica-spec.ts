// What a replica of a deployment runs: its build's app directory and model file, its config, and
// the environment variables and secrets the model declares.
import type { BuildRecord } from '../builder/build-record.ts';
import { newId } from '../domain/ids.ts';
import type { Deployment } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';
import type { ReplicaSpec } from '../runtime/backend.ts';

export function replicaSpec(
  d: Deployment,
  build: BuildRecord,
  home: PlinthHome,
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
  };
}

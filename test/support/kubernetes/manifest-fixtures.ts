// A replica spec and manifest options as the kubernetes backend would have them: what manifest and
// install tests build manifests from.
import type { ReplicaSpec } from '../../../src/runtime/backend.ts';
import type { ManifestOptions } from '../../../src/runtime/kubernetes/manifests.ts';

export const MANIFEST_OPTIONS: ManifestOptions = {
  namespace: 'plinth',
  images: {
    node: 'plinth/runtime-node:0.1.0',
    python: 'plinth/runtime-python:0.1.0',
    fetcher: 'plinth/server:0.1.0',
  },
  artifacts: {
    app: 'http://plinth.plinth.svc:4780/v1/models/m1/deployments/d1/artifacts/app',
    environment: 'http://plinth.plinth.svc:4780/v1/models/m1/deployments/d1/artifacts/environment',
    baseEnvironment:
      'http://plinth.plinth.svc:4780/v1/models/m1/deployments/d1/artifacts/base-environment?name=python3.11-0123456789abcdef',
  },
  apiKeySecret: { name: 'plinth-artifacts', key: 'api-key' },
  port: 8080,
  preStopSeconds: 5,
  drainSeconds: 30,
  gpuNodeLabel: 'plinth.dev/accelerator',
};

export function replicaSpec(overrides: Partial<ReplicaSpec> = {}): ReplicaSpec {
  return {
    replicaId: 'r_1',
    deploymentId: 'd_Abc123',
    modelId: 'm_xyz',
    revision: 0,
    language: 'typescript',
    appDir: '/var/lib/plinth/deployments/d_Abc123/app',
    modelFile: 'model/model.mjs',
    config: { model_name: 'hello', runtime: { predict_concurrency: 4 } },
    env: { GREETING: 'hi', PLINTH_SECRETS_JSON: '{"hf_token":"s3cret"}' },
    envDir: null,
    resources: { instanceType: 'cpu-1x2', cpuMillis: 1000, memoryBytes: 2 * 1024 ** 3, accelerator: null },
    ...overrides,
  };
}

// Replica specs for tests and benchmarks of the runtime backends: a JavaScript model's source
// written as an app directory, and the smallest instance type.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplicaResources, ReplicaSpec } from '../../src/runtime/backend.ts';

export const SMALL: ReplicaResources = {
  instanceType: '1x2',
  cpuMillis: 1000,
  memoryBytes: 2 * 1024 ** 3,
  accelerator: null,
};

/** Writes `source` as `model/model.mjs` under `appDir` and answers a spec that runs it. */
export function jsModelSpec(
  appDir: string,
  source: string,
  spec: Pick<ReplicaSpec, 'replicaId' | 'deploymentId'> & Partial<ReplicaSpec>,
): ReplicaSpec {
  mkdirSync(join(appDir, 'model'), { recursive: true });
  writeFileSync(join(appDir, 'model', 'model.mjs'), source);
  return {
    modelId: 'm-test',
    revision: 0,
    language: 'typescript',
    appDir,
    modelFile: 'model/model.mjs',
    config: { runtime: { predict_concurrency: 4 } },
    env: {},
    envDir: null,
    resources: SMALL,
    ...spec,
  };
}

// What unit tests create a deployment from: a published deployment of `modelId` with default
// settings, BUILDING, unless `overrides` say otherwise.
import { DEFAULT_AUTOSCALING } from '../../src/domain/autoscaling.ts';
import type { NewDeployment } from '../../src/store/store.ts';

export function deploymentInput(modelId: string, overrides: Partial<NewDeployment> = {}): NewDeployment {
  return {
    model_id: modelId,
    name: 'deployment-1',
    status: 'BUILDING',
    is_development: false,
    bundle_sha256: 'b'.repeat(64),
    config: {},
    instance_type_name: '1x2',
    autoscaling_settings: { ...DEFAULT_AUTOSCALING },
    ...overrides,
  };
}

// Test helper: a promotion record as the store takes it (Omit<Promotion, 'id'>), with defaults for
// every field a test does not care about.
import type { Promotion } from '../../src/domain/types.ts';

export function promotionRecord(
  fields: Pick<Promotion, 'model_id' | 'environment_id' | 'to_deployment_id'> & Partial<Promotion>,
): Omit<Promotion, 'id'> {
  return {
    environment_name: 'production',
    from_deployment_id: null,
    status: 'IN_PROGRESS',
    phase: 'WAITING_FOR_REPLICAS',
    traffic_percent: 0,
    cleanup_strategy: 'SCALE_TO_ZERO',
    ramp_up_duration_seconds: 0,
    replicas_needed: 1,
    requested_by: 'admin',
    reason: null,
    started_at: new Date().toISOString(),
    ramp_started_at: null,
    finished_at: null,
    paused_at: null,
    rolling: null,
    actions: [],
    ...fields,
  };
}

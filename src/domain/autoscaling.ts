// Autoscaling settings: their defaults and allowed ranges (DESIGN.md §5). Pure: no I/O.

export interface AutoscalingSettings {
  min_replica: number;
  max_replica: number;
  concurrency_target: number;
  target_utilization_percentage: number;
  autoscaling_window: number;
  scale_down_delay: number;
  /**
   * Most percent of the replicas removed per autoscaling window (1–50), so that a traffic drop
   * cannot drain a large deployment at once; null: no limit.
   */
  max_scale_down_rate: number | null;
}

export const DEFAULT_AUTOSCALING: Readonly<AutoscalingSettings> = Object.freeze({
  min_replica: 0,
  max_replica: 1,
  concurrency_target: 1,
  target_utilization_percentage: 70,
  autoscaling_window: 60,
  scale_down_delay: 900,
  max_scale_down_rate: null,
});

export const DEFAULT_ROLLING_DEPLOY_CONFIG = Object.freeze({
  max_surge_percent: 25,
  max_unavailable_percent: 0,
  stabilization_time_seconds: 60,
});

export const DEFAULT_PROMOTION_SETTINGS = Object.freeze({
  cleanup_strategy: 'SCALE_TO_ZERO' as const,
  ramp_up_while_promoting: false,
  ramp_up_duration_seconds: 600,
  rolling_deploy: false,
  rolling_deploy_config: DEFAULT_ROLLING_DEPLOY_CONFIG,
  redeploy_on_promotion: false,
});

/** Stored settings completed with the defaults of fields added since they were written. */
export function withAutoscalingDefaults(stored: Partial<AutoscalingSettings>): AutoscalingSettings {
  return { ...DEFAULT_AUTOSCALING, ...stored };
}

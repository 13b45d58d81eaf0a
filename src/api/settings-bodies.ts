// Validation of the settings users PATCH: autoscaling (the ranges of DESIGN.md §5) and promotion.
import { z } from 'zod';
import { autoscalingSchema } from '../config/schema.ts';
import type { AutoscalingSettings } from '../domain/autoscaling.ts';
import { PlinthError } from '../domain/errors.ts';
import { findInstanceType } from '../domain/instance-types.ts';
import type { InstanceType } from '../domain/instance-types.ts';
import type { PromotionSettings } from '../domain/types.ts';
import { parseInput } from './validate.ts';

const percent = z.number().int().min(0).max(100);

export const promotionSettingsSchema = z.strictObject({
  cleanup_strategy: z.enum(['SCALE_TO_ZERO', 'KEEP', 'DEACTIVATE']).optional(),
  ramp_up_while_promoting: z.boolean().optional(),
  ramp_up_duration_seconds: z.number().int().min(1).max(86_400).optional(),
  rolling_deploy: z.boolean().optional(),
  rolling_deploy_config: z
    .strictObject({
      max_surge_percent: percent.optional(),
      max_unavailable_percent: percent.optional(),
      stabilization_time_seconds: z.number().int().min(0).max(3600).optional(),
    })
    .optional(),
  redeploy_on_promotion: z.boolean().optional(),
});

/** A partial autoscaling patch applied over `current`, checked as a whole. */
export function mergeAutoscaling(
  current: AutoscalingSettings,
  patch: unknown,
  options: { development?: boolean } = {},
): AutoscalingSettings {
  const parsed = parseInput(autoscalingSchema, patch, 'autoscaling_settings');
  const merged = {
    ...current,
    ...Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined)),
  };
  if (merged.max_replica < Math.max(1, merged.min_replica)) {
    throw new PlinthError(
      'VALIDATION_ERROR',
      `autoscaling_settings field "max_replica": must be at least max(1, min_replica) = ${Math.max(1, merged.min_replica)}`,
    );
  }
  if (options.development && merged.max_replica > 1) {
    throw new PlinthError(
      'VALIDATION_ERROR',
      'autoscaling_settings field "max_replica": the development deployment runs at most 1 replica',
    );
  }
  return merged;
}

const defined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** A partial promotion-settings patch (rolling_deploy_config partial too) applied over `current`. */
export function mergePromotionSettings(current: PromotionSettings, patch: unknown): PromotionSettings {
  const parsed = parseInput(promotionSettingsSchema, patch, 'promotion_settings');
  const rolling = { ...current.rolling_deploy_config, ...defined(parsed.rolling_deploy_config ?? {}) };
  if (rolling.max_surge_percent === 0 && rolling.max_unavailable_percent === 0) {
    throw new PlinthError(
      'VALIDATION_ERROR',
      'promotion_settings field "rolling_deploy_config": max_surge_percent and max_unavailable_percent cannot both be 0 (a rolling deploy could never move)',
    );
  }
  return { ...current, ...defined(parsed), rolling_deploy_config: rolling };
}

/** An instance type named in a body, from the catalog; an unknown one names the field. */
export function knownInstanceType(
  catalog: readonly InstanceType[],
  name: string,
  field: string,
): InstanceType {
  const found = findInstanceType(catalog, name);
  if (!found) {
    throw new PlinthError(
      'VALIDATION_ERROR',
      `${field}: "${name}" is not a known instance type (GET /v1/instance_types lists them)`,
    );
  }
  return found;
}

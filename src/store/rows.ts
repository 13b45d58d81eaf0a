// Converting between table rows and domain records. Pure.
import { DEFAULT_PROMOTION_SETTINGS } from '../domain/autoscaling.ts';
import type { AutoscalingSettings } from '../domain/autoscaling.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import type {
  ApiKey,
  ApiKeyScope,
  CleanupStrategy,
  Deployment,
  DeploymentEvent,
  Environment,
  LogLevel,
  LogRecord,
  LogSource,
  Promotion,
  PromotionPhase,
  PromotionSettings,
  PromotionStatus,
  ReplicaRecord,
  ReplicaStatus,
} from '../domain/types.ts';
import type { Selectable } from 'kysely';
import type { Database } from './schema.ts';

type Row<T extends keyof Database> = Selectable<Database[T]>;

export function toDeployment(r: Row<'deployments'>): Deployment {
  return {
    id: r.id,
    model_id: r.model_id,
    name: r.name,
    status: r.status as DeploymentStatus,
    status_reason: r.status_reason,
    is_development: Boolean(r.is_development),
    has_served: Boolean(r.has_served),
    bundle_sha256: r.bundle_sha256,
    config: JSON.parse(r.config_json) as Record<string, unknown>,
    instance_type_name: r.instance_type_name,
    autoscaling_settings: JSON.parse(r.autoscaling_json) as AutoscalingSettings,
    desired_replicas: Number(r.desired_replicas),
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

export function toEnvironment(r: Row<'environments'>): Environment {
  return {
    id: r.id,
    model_id: r.model_id,
    name: r.name,
    current_deployment_id: r.current_deployment_id,
    autoscaling_settings: JSON.parse(r.autoscaling_json) as AutoscalingSettings,
    promotion_settings: {
      ...DEFAULT_PROMOTION_SETTINGS,
      ...(JSON.parse(r.promotion_json) as Partial<PromotionSettings>),
    },
    instance_type_name: r.instance_type_name ?? null,
    public: Boolean(r.is_public),
    created_at: r.created_at,
  };
}

export function toPromotion(r: Row<'promotions'>): Promotion {
  return {
    ...r,
    status: r.status as PromotionStatus,
    phase: r.phase as PromotionPhase,
    cleanup_strategy: r.cleanup_strategy as CleanupStrategy,
    traffic_percent: Number(r.traffic_percent),
    ramp_up_duration_seconds: Number(r.ramp_up_duration_seconds),
    replicas_needed: Number(r.replicas_needed),
  };
}

export function toReplica(r: Row<'replicas'>): ReplicaRecord {
  return { ...r, status: r.status as ReplicaStatus };
}

export function toEvent(r: Row<'events'>): DeploymentEvent {
  return {
    ...r,
    id: Number(r.id),
    from_status: r.from_status as DeploymentStatus | null,
    to_status: r.to_status as DeploymentStatus,
  };
}

export function toApiKey(r: Row<'api_keys'>): ApiKey {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scope: r.scope as ApiKeyScope,
    models: r.models_json ? (JSON.parse(r.models_json) as string[]) : null,
    created_at: r.created_at,
    revoked_at: r.revoked_at,
  };
}

export function toLog(r: Row<'logs'>): LogRecord {
  return { ...r, id: Number(r.id), source: r.source as LogSource, level: r.level as LogLevel };
}

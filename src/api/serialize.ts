// Domain records → the management API's JSON shapes (field names as hosted platforms use them).
import type {
  Deployment,
  DeploymentEvent,
  Environment,
  LogRecord,
  Model,
  Promotion,
  ReplicaRecord,
} from '../domain/types.ts';
import type { ReplicaHandle } from '../runtime/backend.ts';
import type { ModelDeploymentCounts } from '../store/store.ts';

export interface UrlBuilder {
  /** The inference URL of a deployment (its environment's, when it serves one). */
  predictUrl(model: Model, deployment: Deployment, environment: string | null): string;
  environmentUrl(model: Model, environment: string): string;
}

/** `baseUrl` is read on each call: the server learns its port only once it listens. */
export function makeUrlBuilder(baseUrl: () => string): UrlBuilder {
  const hostBase = (modelId: string): string => {
    const u = new URL(baseUrl());
    return u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '::1'
      ? `${u.protocol}//model-${modelId}.localhost${u.port ? `:${u.port}` : ''}`
      : `${u.origin}/models/${modelId}`;
  };
  return {
    environmentUrl: (model, environment) => `${hostBase(model.id)}/environments/${environment}/predict`,
    predictUrl(model, deployment, environment) {
      if (deployment.is_development) return `${hostBase(model.id)}/development/predict`;
      if (environment) return `${hostBase(model.id)}/environments/${environment}/predict`;
      return `${hostBase(model.id)}/deployment/${deployment.id}/predict`;
    },
  };
}

/** `counts`: how many deployments the model has and its development one (none when undefined). */
export function modelJson(
  model: Model,
  environments: Environment[],
  counts: Pick<ModelDeploymentCounts, 'deployments_count' | 'development_deployment_id'> | undefined,
) {
  const production = environments.find((e) => e.name === 'production');
  return {
    id: model.id,
    name: model.name,
    created_at: model.created_at,
    deployments_count: counts?.deployments_count ?? 0,
    production_deployment_id: production?.current_deployment_id ?? null,
    development_deployment_id: counts?.development_deployment_id ?? null,
    environments: environments.map((e) => ({ name: e.name, current_deployment_id: e.current_deployment_id })),
  };
}

export function deploymentJson(
  model: Model,
  d: Deployment,
  environments: Environment[],
  replicas: readonly { phase: string }[],
  urls: UrlBuilder,
) {
  const environment = environments.find((e) => e.current_deployment_id === d.id)?.name ?? null;
  return {
    id: d.id,
    name: d.name,
    model_id: d.model_id,
    model_name: model.name,
    status: d.status,
    status_reason: d.status_reason,
    active_replica_count: replicas.filter((r) => r.phase === 'READY').length,
    starting_replica_count: replicas.filter((r) => r.phase === 'STARTING').length,
    autoscaling_settings: d.autoscaling_settings,
    instance_type_name: d.instance_type_name,
    environment,
    is_development: d.is_development,
    bundle_sha256: d.bundle_sha256,
    predict_url: urls.predictUrl(model, d, environment),
    created_at: d.created_at,
    updated_at: d.updated_at,
  };
}

export function replicaJson(record: ReplicaRecord, live: ReplicaHandle | undefined, inFlight: number) {
  return {
    id: record.id,
    status: live?.phase ?? record.status,
    address: live?.address ?? record.address,
    started_at: record.started_at,
    stopped_at: record.stopped_at,
    exit_reason: record.exit_reason,
    in_flight: inFlight,
    instance_type: live?.instanceType ?? null,
    gpus: live?.gpus ?? [],
    pid: live?.pid ?? null,
  };
}

export function eventJson(e: DeploymentEvent) {
  return { id: e.id, time: e.time, from: e.from_status, to: e.to_status, reason: e.reason };
}

export function logJson(l: LogRecord) {
  return {
    id: l.id,
    time: l.time,
    level: l.level,
    source: l.source,
    replica: l.replica_id,
    request_id: l.request_id,
    message: l.message,
  };
}

export function promotionJson(p: Promotion) {
  return {
    id: p.id,
    status: p.status,
    phase: p.phase,
    from_deployment_id: p.from_deployment_id,
    to_deployment_id: p.to_deployment_id,
    traffic_percent: p.traffic_percent,
    cleanup_strategy: p.cleanup_strategy,
    ramp_up_duration_seconds: p.ramp_up_duration_seconds,
    replicas_needed: p.replicas_needed,
    requested_by: p.requested_by,
    reason: p.reason,
    started_at: p.started_at,
    ramp_started_at: p.ramp_started_at,
    finished_at: p.finished_at,
    is_paused: p.paused_at !== null,
    paused_at: p.paused_at,
    rolling: p.rolling,
    /** Who did what to it, oldest first. */
    actions: p.actions,
  };
}

export function environmentJson(
  model: Model,
  env: Environment,
  current: ReturnType<typeof deploymentJson> | null,
  inProgress: Promotion | undefined,
  baseUrl: string,
) {
  return {
    id: env.id,
    name: env.name,
    model_id: model.id,
    current_deployment: current,
    current_deployment_id: env.current_deployment_id,
    autoscaling_settings: env.autoscaling_settings,
    promotion_settings: env.promotion_settings,
    instance_type_name: env.instance_type_name,
    public: env.public,
    is_active: env.is_active,
    in_progress_promotion: inProgress ? promotionJson(inProgress) : null,
    predict_url: baseUrl,
    created_at: env.created_at,
  };
}

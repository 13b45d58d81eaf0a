// Core records of the platform, shared by every room. Field names follow the management API.
// Pure types: no I/O, imports nothing outside domain/.
import type { AutoscalingSettings } from './autoscaling.ts';
import type { DeploymentStatus } from './deployment-status.ts';

export interface Model {
  id: string;
  name: string;
  created_at: string;
}

export interface Deployment {
  id: string;
  model_id: string;
  name: string;
  status: DeploymentStatus;
  is_development: boolean;
  bundle_sha256: string;
  /** The resolved config.yaml, as parsed and defaulted. */
  config: Record<string, unknown>;
  instance_type_name: string;
  autoscaling_settings: AutoscalingSettings;
  desired_replicas: number;
  /** Why the deployment is in its status, when there is something to say (a failure, a wait). */
  status_reason: string | null;
  /** Whether the deployment has ever had a ready replica (decides DEPLOY_FAILED vs UNHEALTHY). */
  has_served: boolean;
  /**
   * What its replicas run now: a development patch or an instance-type change bumps it, and the
   * reconciler replaces replicas of another revision, new before old.
   */
  revision: number;
  /** The build of that revision (null until the first build finishes). */
  build: BuildRecord | null;
  /** The highest revision it has had: a new one is always higher (numbers are never reused). */
  last_revision: number;
  /** While a development patch rolls out: what it replaced, to go back to if it fails. */
  rollback: Rollback | null;
  created_at: string;
  updated_at: string;
}

export type ModelLanguage = 'python' | 'typescript';

/** What a deployment ran before a development patch (its revision, code and build). */
export interface Rollback {
  revision: number;
  bundle_sha256: string;
  config: Record<string, unknown>;
  build: BuildRecord | null;
  desired_replicas: number;
}

/** What a finished build leaves for the replicas: the model's language, entry file and prepared environment. */
export interface BuildRecord {
  language: ModelLanguage;
  /** The model class file, relative to appDir. */
  modelFile: string;
  /** The prepared environment (a venv, node_modules); null when none is needed. */
  envDir: string | null;
  /**
   * Truss's base environment, layered under a Python venv (a .pth file in envDir names its
   * site-packages): replicas must be able to read it too. Absent when none was ready.
   */
  baseEnvDir?: string;
  /** The app directory the build is of (each development patch builds in a new one). */
  appDir: string;
  builtAt: string;
}

export interface Environment {
  id: string;
  model_id: string;
  name: string;
  current_deployment_id: string | null;
  autoscaling_settings: AutoscalingSettings;
  promotion_settings: PromotionSettings;
  /** Overrides the instance type of the deployments it serves; null keeps theirs. */
  instance_type_name: string | null;
  /** Inference on its URL needs no API key. */
  public: boolean;
  /** A deactivated environment's URL answers ENVIRONMENT_INACTIVE; its deployment keeps its settings. */
  is_active: boolean;
  created_at: string;
}

export type CleanupStrategy = 'SCALE_TO_ZERO' | 'KEEP' | 'DEACTIVATE';

/** How a rolling deploy replaces replicas (percentages of the previous deployment's replicas). */
export interface RollingDeployConfig {
  /** Replicas the candidate may run above the previous count while replacing (0–100). */
  max_surge_percent: number;
  /** Replicas below the previous count while replacing (0–100); not both 0. */
  max_unavailable_percent: number;
  /** How long each step's new replicas must stay ready before the next step. */
  stabilization_time_seconds: number;
}

export interface PromotionSettings {
  cleanup_strategy: CleanupStrategy;
  ramp_up_while_promoting: boolean;
  ramp_up_duration_seconds: number;
  /** Replace the previous deployment's replicas in steps instead of switching at once. */
  rolling_deploy: boolean;
  rolling_deploy_config: RollingDeployConfig;
  /** Promote a fresh deployment of the candidate's bundle rather than the candidate itself. */
  redeploy_on_promotion: boolean;
}

export type PromotionStatus = 'IN_PROGRESS' | 'SUCCEEDED' | 'CANCELLED' | 'FAILED';
export type PromotionPhase = 'WAITING_FOR_REPLICAS' | 'RAMPING' | 'ROLLING' | 'ROLLING_BACK' | 'DONE';

/** What a person (or script) did to a promotion, for its history. */
export type PromotionAction =
  'promote' | 'pause' | 'resume' | 'cancel' | 'force_cancel' | 'force_roll_forward';

export interface PromotionActionRecord {
  action: PromotionAction;
  by: string;
  at: string;
}

/**
 * Where a rolling deploy stands. `incoming` grows to `replicas` while `outgoing` shrinks to 0: the
 * candidate and the previous deployment going forward, the other way round while rolling back.
 */
export interface RollingState extends RollingDeployConfig {
  /** The previous deployment's replicas when the promotion started: the count being replaced. */
  replicas: number;
  incoming_target: number;
  outgoing_target: number;
  /** When the current step's replicas were all ready; the next step waits the stabilization time. */
  stable_since: string | null;
}

export interface Promotion {
  id: string;
  model_id: string;
  environment_id: string;
  environment_name: string;
  from_deployment_id: string | null;
  to_deployment_id: string;
  status: PromotionStatus;
  phase: PromotionPhase;
  /** Share of the environment's new requests that go to the candidate (0–100). */
  traffic_percent: number;
  cleanup_strategy: CleanupStrategy;
  ramp_up_duration_seconds: number;
  /** Ready replicas the candidate needs before traffic moves. */
  replicas_needed: number;
  requested_by: string;
  reason: string | null;
  started_at: string;
  ramp_started_at: string | null;
  finished_at: string | null;
  /** Set while paused: traffic and replicas hold where they are. */
  paused_at: string | null;
  /** A rolling deploy's progress; null for a switch or a ramp. */
  rolling: RollingState | null;
  /** Who did what to it, oldest first. */
  actions: PromotionActionRecord[];
}

export type ReplicaStatus = 'STARTING' | 'READY' | 'DRAINING' | 'STOPPED' | 'FAILED';

export interface ReplicaRecord {
  id: string;
  deployment_id: string;
  status: ReplicaStatus;
  address: string | null;
  started_at: string;
  stopped_at: string | null;
  exit_reason: string | null;
  /** The deployment revision it runs. */
  revision: number;
  /**
   * What its model server wants in x-plinth-replica-token (none: a pod, reached only in its cluster).
   * Gateways send it; never shown by the API.
   */
  token?: string | null;
}

export interface DeploymentEvent {
  id: number;
  model_id: string;
  deployment_id: string;
  time: string;
  from_status: DeploymentStatus | null;
  to_status: DeploymentStatus;
  reason: string;
}

export type ApiKeyScope = 'admin' | 'deploy' | 'inference';

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scope: ApiKeyScope;
  /** For an inference key: the models (ids or names) it may call; null: all. */
  models: string[] | null;
  created_at: string;
  revoked_at: string | null;
}

/** A stored secret, without its value. */
export interface SecretInfo {
  name: string;
  created_at: string;
  updated_at: string;
}

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
export type LogSource = 'build' | 'replica' | 'platform';

export interface LogRecord {
  id: number;
  time: string;
  model_id: string;
  deployment_id: string;
  replica_id: string | null;
  source: LogSource;
  level: LogLevel;
  message: string;
  request_id: string | null;
}

export type NewLogRecord = Omit<LogRecord, 'id'>;

/** One answered inference request, as the gateway measured it. */
export interface RequestMeasure {
  model: Model;
  deployment: Deployment;
  /** The environment the request was addressed to; null when it named a deployment. */
  environment: string | null;
  status: number;
  e2eS: number;
  ttfbS: number | null;
  queueS: number;
  requestBytes: number;
  responseBytes: number;
}

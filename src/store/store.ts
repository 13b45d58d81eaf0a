// The Store seam: every piece of platform state goes through this interface, so that SQLite (the
// default) and PostgreSQL can stand behind it and pass one shared suite. No HTTP, no processes.
import type {
  AsyncError,
  AsyncRequest,
  NewAsyncRequest,
  WebhookSecretInfo,
  WebhookStatus,
} from '../domain/async-requests.ts';
import type { AutoscalingSettings } from '../domain/autoscaling.ts';
import type {
  ApiKey,
  ApiKeyScope,
  SecretInfo,
  Deployment,
  DeploymentEvent,
  Environment,
  LogLevel,
  LogRecord,
  Model,
  NewLogRecord,
  Promotion,
  ReplicaRecord,
} from '../domain/types.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';

export interface NewDeployment {
  /** Chosen by the caller when files must be laid out before the record exists. */
  id?: string;
  model_id: string;
  name: string;
  status: DeploymentStatus;
  is_development: boolean;
  bundle_sha256: string;
  config: Record<string, unknown>;
  instance_type_name: string;
  autoscaling_settings: AutoscalingSettings;
}

/** Fields a plain update may change; the status changes only through `transition`. */
export type DeploymentPatch = Partial<
  Pick<
    Deployment,
    | 'name'
    | 'desired_replicas'
    | 'has_served'
    | 'autoscaling_settings'
    | 'instance_type_name'
    | 'bundle_sha256'
    | 'config'
    | 'build'
    | 'rollback'
    | 'last_revision'
  >
>;

/** A revision change asked of the store: applied only when the deployment is still at `from`. */
export interface RevisionMove {
  from: number;
  to: number;
  /** What the new revision runs (its build, bundle and config, or instance type). */
  patch?: DeploymentPatch;
}

export type ReviseOutcome =
  { revised: true; deployment: Deployment } | { revised: false; current: Deployment | undefined };

export type EnvironmentPatch = Partial<
  Pick<
    Environment,
    | 'current_deployment_id'
    | 'autoscaling_settings'
    | 'promotion_settings'
    | 'instance_type_name'
    | 'public'
    | 'is_active'
  >
>;

export type PromotionPatch = Partial<
  Pick<
    Promotion,
    | 'status'
    | 'phase'
    | 'traffic_percent'
    | 'reason'
    | 'ramp_started_at'
    | 'finished_at'
    | 'to_deployment_id'
    | 'paused_at'
    | 'rolling'
    | 'actions'
  >
>;

/** A status change asked of the store: applied only when the deployment is still `from` and the table allows it. */
export interface StatusMove {
  from: DeploymentStatus;
  to: DeploymentStatus;
  /** Becomes the deployment's status_reason and its event's reason. */
  reason: string;
  /** Other fields written in the same update. */
  patch?: DeploymentPatch;
}

/** What became of a move: applied, or refused (an illegal move, a stale `from`, a deleted deployment). */
export type MoveOutcome =
  | { moved: true; deployment: Deployment; from: DeploymentStatus }
  | { moved: false; refusal: 'ILLEGAL' | 'STALE' | 'NOT_FOUND'; current: Deployment | undefined };

/** A page of models, oldest first: at most `limit` (all when undefined), after the model `after`. */
export interface ModelPageQuery {
  limit?: number;
  after?: Pick<Model, 'created_at' | 'id'>;
  /** Only these. */
  ids?: readonly string[];
}

/** What a model list tells of a model's deployments without reading them. */
export interface ModelDeploymentCounts {
  model_id: string;
  deployments_count: number;
  development_deployment_id: string | null;
}

export interface DeploymentFilter {
  model_id?: string;
  statuses?: readonly DeploymentStatus[];
  /** Only those with no build recorded (`build` null). */
  unbuilt?: boolean;
  /** Only those not at rest (RESTING_STATUSES), or at rest but wanting replicas. */
  awake?: boolean;
  /** Only these. */
  ids?: readonly string[];
}

export interface LogQuery {
  model_id?: string;
  deployment_id?: string;
  replica_id?: string;
  /** Only records with an id above this (a cursor for tailing). */
  after_id?: number;
  since?: string;
  until?: string;
  levels?: readonly LogLevel[];
  search?: string;
  request_id?: string;
  limit?: number;
  /** The newest `limit` records (still returned oldest first) instead of the oldest. */
  newest?: boolean;
}

/** One time bucket of a metric series, for a scope (`deployment:{id}`, `environment:{model}/{name}`). */
export interface MetricBucket {
  scope: string;
  resolution_s: number;
  start_ms: number;
  data: unknown;
}

/** What one gateway process counts on a deployment (requests in flight plus queued), as it last reported it. */
export interface ConcurrencyReport {
  gateway_id: string;
  deployment_id: string;
  concurrency: number;
  reported_ms: number;
}

/** When a deployment last answered an inference request (ms since epoch). */
export interface TrafficTime {
  deployment_id: string;
  last_request_ms: number;
}

export interface NewApiKey {
  name: string;
  prefix: string;
  hash: string;
  scope: ApiKeyScope;
  models?: string[] | null;
}

/** How a claimed async request ends its attempt (see `settleAsync`). */
export type AsyncOutcome =
  | { to: 'QUEUED'; not_before_ms: number; error: AsyncError }
  | { to: 'SUCCEEDED'; output_json: string; output_expires_ms: number }
  | { to: 'FAILED'; error: AsyncError };

export interface Store {
  /** Runs `fn` atomically: every write inside it lands, or none does. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;

  /** Creates a model and its `production` environment. */
  createModel(name: string): Promise<Model>;
  getModel(idOrName: string): Promise<Model | undefined>;
  /** Oldest first (created_at, then id); a page of them when asked. */
  listModels(page?: ModelPageQuery): Promise<Model[]>;
  /** Deletes a model with its deployments, environments, replicas, events, logs and async requests. */
  deleteModel(id: string): Promise<void>;

  createDeployment(input: NewDeployment): Promise<Deployment>;
  getDeployment(id: string): Promise<Deployment | undefined>;
  listDeployments(filter?: DeploymentFilter): Promise<Deployment[]>;
  /** Every deployment's id and status, and nothing else (what another process follows them by). */
  listDeploymentStatuses(): Promise<{ id: string; status: DeploymentStatus }[]>;
  /** Per model (of these; of every model when undefined): its deployment count and development deployment. One query. */
  countDeployments(modelIds?: readonly string[]): Promise<Map<string, ModelDeploymentCounts>>;
  updateDeployment(id: string, patch: DeploymentPatch): Promise<Deployment>;
  /**
   * Compare-and-set of the status: moves the deployment `from` → `to` (with `patch`, and an event
   * when the status changes) in one transaction, or refuses without writing anything.
   */
  transition(id: string, move: StatusMove): Promise<MoveOutcome>;
  /** Compare-and-set of the revision (with `patch` in the same update), or a refusal with nothing written. */
  revise(id: string, move: RevisionMove): Promise<ReviseOutcome>;
  deleteDeployment(id: string): Promise<void>;

  listEnvironments(modelId: string): Promise<Environment[]>;
  /** The environments of these models (of every model when undefined), by model, in one query. */
  listEnvironmentsOf(modelIds?: readonly string[]): Promise<Environment[]>;
  getEnvironment(modelId: string, name: string): Promise<Environment | undefined>;
  createEnvironment(modelId: string, name: string, settings?: Partial<Environment>): Promise<Environment>;
  updateEnvironment(id: string, patch: EnvironmentPatch): Promise<Environment>;
  deleteEnvironment(id: string): Promise<void>;

  createPromotion(promotion: Omit<Promotion, 'id'>): Promise<Promotion>;
  updatePromotion(id: string, patch: PromotionPatch): Promise<Promotion>;
  /** Newest first. */
  listPromotions(filter: { environment_id?: string; status?: Promotion['status'] }): Promise<Promotion[]>;

  upsertReplica(replica: ReplicaRecord): Promise<void>;
  listReplicas(filter?: { deployment_id?: string; live?: boolean }): Promise<ReplicaRecord[]>;

  recordEvent(event: Omit<DeploymentEvent, 'id'>): Promise<DeploymentEvent>;
  listEvents(deploymentId: string): Promise<DeploymentEvent[]>;

  createApiKey(input: NewApiKey): Promise<ApiKey>;
  findApiKeyByHash(hash: string): Promise<ApiKey | undefined>;
  listApiKeys(): Promise<ApiKey[]>;
  revokeApiKey(id: string): Promise<void>;
  /** Stores a secret's ciphertext (creating or replacing it). */
  putSecret(name: string, ciphertext: string): Promise<SecretInfo>;
  getSecretCiphertext(name: string): Promise<string | undefined>;
  listSecrets(): Promise<SecretInfo[]>;
  /** False when there was none. */
  deleteSecret(name: string): Promise<boolean>;

  appendLogs(records: readonly NewLogRecord[]): Promise<void>;
  queryLogs(query: LogQuery): Promise<LogRecord[]>;
  /** Deletes log records older than `before` (ISO time), then all but the newest `keep`. */
  pruneLogs(options: { before?: string; keep?: number }): Promise<number>;
  /** Writes buckets, replacing any with the same scope, resolution and start. */
  saveMetricBuckets(buckets: readonly MetricBucket[]): Promise<void>;
  /** Buckets of a scope as every process wrote it (`scope`, and `scope@<source>`), in a range. */
  queryMetricBuckets(query: {
    scope: string;
    resolution_s: number;
    from_ms: number;
    to_ms: number;
  }): Promise<MetricBucket[]>;
  /** Deletes buckets of a resolution that started before `before_ms`. */
  pruneMetricBuckets(resolution_s: number, before_ms: number): Promise<number>;

  /** Replaces what one gateway reported per deployment (several gateways: scaling sees the sum). */
  reportConcurrency(reports: readonly ConcurrencyReport[]): Promise<void>;
  /** Reports made at or after `since_ms`; older ones are removed. */
  listConcurrency(since_ms: number): Promise<ConcurrencyReport[]>;

  /** Notes when deployments last answered a request; a later time wins, an earlier one is ignored. */
  recordTraffic(times: readonly TrafficTime[]): Promise<void>;
  /** The last request time of each deployment that has answered one, by deployment id. */
  lastTraffic(): Promise<Map<string, number>>;

  /** Stores a new request QUEUED (created_at now, not_before now, attempts 0); durable once it resolves. */
  enqueueAsync(input: NewAsyncRequest): Promise<AsyncRequest>;
  getAsync(id: string): Promise<AsyncRequest | undefined>;
  /**
   * Claims up to `limit` QUEUED requests of a deployment whose not_before_ms <= now_ms (and, if never
   * claimed, whose time in the queue has not run out), in queue order (priority ascending, then
   * arrival), marking each IN_PROGRESS (attempts + 1, started_at set on the first claim,
   * lease_owner/lease_until_ms) in the same transaction that picks it; on PostgreSQL two control
   * planes never claim the same one (FOR UPDATE SKIP LOCKED).
   */
  claimAsync(input: {
    deployment_id: string;
    owner: string;
    now_ms: number;
    lease_ms: number;
    limit: number;
  }): Promise<AsyncRequest[]>;
  /** Extends the leases `owner` holds (a long model call); answers the ids still held. */
  renewAsyncLeases(input: { ids: readonly string[]; owner: string; until_ms: number }): Promise<string[]>;
  /**
   * Compare-and-set from IN_PROGRESS held by `owner`: to QUEUED (a retry: not_before_ms, an error
   * appended), or to a final status (SUCCEEDED with output_json and output_expires_ms, FAILED with
   * an error; finished_at set), setting webhook_status PENDING (webhook_next_ms now) when it has a
   * webhook. The lease is cleared; errors keep the latest 10. Answers the request as written, or
   * undefined when `owner` no longer held it (nothing written).
   */
  settleAsync(id: string, owner: string, outcome: AsyncOutcome): Promise<AsyncRequest | undefined>;
  /** QUEUED → CANCELED (its webhook, if any, due now); undefined when it was not QUEUED (nothing written). */
  cancelAsync(id: string): Promise<AsyncRequest | undefined>;
  /**
   * QUEUED requests never claimed, past created_at + max_time_in_queue_s → EXPIRED (webhook PENDING
   * if any); answers their ids. A request waiting out a retry's backoff has started and does not expire.
   */
  expireAsync(now_ms: number): Promise<string[]>;
  /**
   * IN_PROGRESS requests whose lease ended before now_ms (their holder died) → QUEUED, the attempt
   * cut off not counted, except those `owner` holds; answers how many.
   */
  reclaimAsyncLeases(now_ms: number, owner?: string): Promise<number>;
  /** Counts of a deployment's QUEUED and IN_PROGRESS requests. */
  asyncQueueStatus(
    deployment_id: string,
  ): Promise<{ num_queued_requests: number; num_in_progress_requests: number }>;
  /** Deployments with QUEUED requests ready at now_ms (not_before_ms <= now_ms), and how many each. */
  asyncQueuedByDeployment(now_ms: number): Promise<Map<string, number>>;
  /** Requests whose webhook is PENDING with webhook_next_ms <= now_ms, oldest first. */
  listWebhooksDue(now_ms: number, limit: number): Promise<AsyncRequest[]>;
  /**
   * Records a delivery try of a PENDING webhook (webhook_attempts + 1): DELIVERED, or PENDING again
   * with its next time, or FAILED (given up: a request the model answered becomes WEBHOOK_FAILED).
   */
  recordWebhook(id: string, outcome: { status: WebhookStatus; next_ms: number | null }): Promise<void>;
  /**
   * Clears output_json of requests whose retention ended; deletes final requests finished before
   * `before` (ISO) whose webhook is not pending; answers how many it cleared or deleted.
   */
  pruneAsync(input: { now_ms: number; before: string }): Promise<number>;

  /** A new webhook secret (its value encrypted by the caller, like secrets). */
  createWebhookSecret(input: { id: string; ciphertext: string }): Promise<WebhookSecretInfo>;
  /** Secrets that still sign (not revoked, or revoked with expires_at in the future), newest first, with ciphertexts. */
  signingWebhookSecrets(now_iso: string): Promise<(WebhookSecretInfo & { ciphertext: string })[]>;
  /** Every secret, newest first, never with its ciphertext. */
  listWebhookSecrets(): Promise<WebhookSecretInfo[]>;
  /** Sets expires_at (after an overlap; an earlier one stands); false when there was none. */
  revokeWebhookSecret(id: string, expires_at: string): Promise<boolean>;

  close(): Promise<void>;
}

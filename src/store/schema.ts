// Table shapes as Kysely sees them. Portable on purpose: text ids, ISO-8601 text times,
// JSON as text and booleans as 0/1 integers, so SQLite and PostgreSQL share every query.
import type { Generated } from 'kysely';

export interface ModelsTable {
  id: string;
  name: string;
  /** modelNameKey(name): names are unique regardless of case (null only for legacy duplicates). */
  name_key: string | null;
  created_at: string;
}

export interface DeploymentsTable {
  id: string;
  model_id: string;
  name: string;
  status: string;
  status_reason: string | null;
  is_development: number;
  has_served: number;
  bundle_sha256: string;
  config_json: string;
  instance_type_name: string;
  autoscaling_json: string;
  desired_replicas: number;
  revision: number;
  build_json: string | null;
  rollback_json: string | null;
  last_revision: number;
  created_at: string;
  updated_at: string;
  /** When it last answered an inference request, ms since epoch (sql/traffic.ts). */
  last_request_ms: number | null;
}

export interface EnvironmentsTable {
  id: string;
  model_id: string;
  name: string;
  current_deployment_id: string | null;
  autoscaling_json: string;
  promotion_json: string;
  instance_type_name: string | null;
  is_public: number;
  is_active: number;
  created_at: string;
}

export interface PromotionsTable {
  id: string;
  model_id: string;
  environment_id: string;
  environment_name: string;
  from_deployment_id: string | null;
  to_deployment_id: string;
  status: string;
  phase: string;
  traffic_percent: number;
  cleanup_strategy: string;
  ramp_up_duration_seconds: number;
  replicas_needed: number;
  requested_by: string;
  reason: string | null;
  started_at: string;
  ramp_started_at: string | null;
  finished_at: string | null;
  paused_at: string | null;
  rolling_json: string | null;
  actions_json: string;
}

export interface ReplicasTable {
  id: string;
  deployment_id: string;
  status: string;
  address: string | null;
  started_at: string;
  stopped_at: string | null;
  exit_reason: string | null;
  revision: number;
  token: string | null;
}

export interface EventsTable {
  id: Generated<number>;
  model_id: string;
  deployment_id: string;
  time: string;
  from_status: string | null;
  to_status: string;
  reason: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  prefix: string;
  hash: string;
  scope: string;
  models_json: string | null;
  created_at: string;
  revoked_at: string | null;
}

export interface SecretsTable {
  name: string;
  ciphertext: string;
  created_at: string;
  updated_at: string;
}

export interface LogsTable {
  id: Generated<number>;
  time: string;
  model_id: string;
  deployment_id: string;
  replica_id: string | null;
  source: string;
  level: string;
  message: string;
  request_id: string | null;
}

export interface Database {
  models: ModelsTable;
  deployments: DeploymentsTable;
  environments: EnvironmentsTable;
  replicas: ReplicasTable;
  events: EventsTable;
  api_keys: ApiKeysTable;
  logs: LogsTable;
  promotions: PromotionsTable;
  metric_buckets: MetricBucketsTable;
  secrets: SecretsTable;
  gateway_concurrency: GatewayConcurrencyTable;
  async_requests: AsyncRequestsTable;
  webhook_secrets: WebhookSecretsTable;
}

/** The durable queue of async requests: `seq` is arrival order, `*_ms` columns are ms since epoch. */
export interface AsyncRequestsTable {
  seq: Generated<number>;
  id: string;
  model_id: string;
  deployment_id: string;
  environment: string | null;
  priority: number;
  status: string;
  input_json: string;
  webhook_endpoint: string | null;
  max_time_in_queue_s: number;
  retry_json: string;
  attempts: number;
  errors_json: string;
  created_at: string;
  created_ms: number;
  started_at: string | null;
  finished_at: string | null;
  not_before_ms: number;
  lease_owner: string | null;
  lease_until_ms: number | null;
  output_json: string | null;
  output_expires_ms: number | null;
  webhook_status: string | null;
  webhook_attempts: number;
  webhook_next_ms: number | null;
}

export interface WebhookSecretsTable {
  id: string;
  ciphertext: string;
  created_at: string;
  expires_at: string | null;
}

export interface GatewayConcurrencyTable {
  gateway_id: string;
  deployment_id: string;
  concurrency: number;
  reported_ms: number;
}

export interface MetricBucketsTable {
  /** As its writer wrote it: `scope`, or `scope@<source>` (a gateway). */
  scope: string;
  /** The scope without its writer (what a query names); null in rows an older Plinth wrote. */
  base_scope: string | null;
  resolution_s: number;
  start_ms: number;
  data_json: string;
}

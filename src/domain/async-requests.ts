// Async requests (`…/async_predict`): what a client hands over to run later, its queue order, its
// statuses, its retry schedule, and the webhook it is delivered to. Pure: types, limits, and the
// retry delay as a function of the attempt.

export const ASYNC_STATUSES = [
  'QUEUED',
  'IN_PROGRESS',
  'SUCCEEDED',
  'FAILED',
  'EXPIRED',
  'CANCELED',
  'WEBHOOK_FAILED',
] as const;
export type AsyncStatus = (typeof ASYNC_STATUSES)[number];

/** Statuses a request never leaves (WEBHOOK_FAILED: the model answered, the webhook did not take it). */
export const FINAL_ASYNC_STATUSES: readonly AsyncStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'EXPIRED',
  'CANCELED',
  'WEBHOOK_FAILED',
];

export const ASYNC_LIMITS = {
  priority: { min: 0, max: 2, default: 1 },
  maxTimeInQueueS: { min: 10, max: 259_200, default: 600 },
  maxAttempts: { min: 1, max: 10, default: 3 },
  initialDelayMs: { min: 0, max: 3_600_000, default: 1000 },
  maxDelayMs: { min: 0, max: 3_600_000, default: 60_000 },
} as const;

export interface RetryConfig {
  max_attempts: number;
  initial_delay_ms: number;
  max_delay_ms: number;
}

export interface AsyncError {
  code: string;
  message: string;
}

/** Where a webhook delivery stands: none asked for, waiting (with its next try), done, given up. */
export type WebhookStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

export interface AsyncRequest {
  /** `a` + random (the request id clients see, also sent as X-Plinth-Request-Id). */
  id: string;
  model_id: string;
  deployment_id: string;
  /** The environment it was sent to (null: a deployment URL); for the record only. */
  environment: string | null;
  priority: number;
  status: AsyncStatus;
  /** The model input as JSON text (bounded at accept: default 256 KiB). */
  input_json: string;
  webhook_endpoint: string | null;
  max_time_in_queue_s: number;
  retry: RetryConfig;
  /** Model calls made so far (each claim counts one). */
  attempts: number;
  errors: AsyncError[];
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Not claimed before this time (a retry's backoff), ms since epoch. */
  not_before_ms: number;
  /** Who holds it IN_PROGRESS, and until when (a holder that died gives it back after this). */
  lease_owner: string | null;
  lease_until_ms: number | null;
  /** The model's output as JSON text, kept until `output_expires_ms` (retention). */
  output_json: string | null;
  output_expires_ms: number | null;
  webhook_status: WebhookStatus | null;
  webhook_attempts: number;
  webhook_next_ms: number | null;
}

export interface NewAsyncRequest {
  model_id: string;
  deployment_id: string;
  environment: string | null;
  priority: number;
  input_json: string;
  webhook_endpoint: string | null;
  max_time_in_queue_s: number;
  retry: RetryConfig;
}

/** The delay before attempt `attempt + 1` after `attempt` failed ones: exponential, capped. */
export function retryDelayMs(attempt: number, retry: RetryConfig): number {
  const delay = retry.initial_delay_ms * 2 ** Math.max(0, attempt - 1);
  return Math.min(retry.max_delay_ms, delay);
}

export function isFinalAsync(status: AsyncStatus): boolean {
  return FINAL_ASYNC_STATUSES.includes(status);
}

/** A webhook signing secret: its value (`whsec_…`) is shown once, at creation. */
export interface WebhookSecretInfo {
  id: string;
  created_at: string;
  /** Set when revoked: it still signs (beside the new one) until this time. */
  expires_at: string | null;
}

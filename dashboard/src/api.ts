// The management API from the browser: the key lives in this tab's session storage only, and
// every call carries it. Errors come back in the API's own words.
import type { DeploymentStatus } from '../../src/domain/deployment-status.ts';

const KEY = 'plinth.apiKey';

export function savedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(method: string, path: string, body?: unknown, key = savedKey()): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        authorization: `Api-Key ${key ?? ''}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'The Plinth server cannot be reached. Is it still running?');
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text || res.statusText;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      // not JSON: keep the text
    }
    throw new ApiError(res.status, message.charAt(0).toUpperCase() + message.slice(1));
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Reads a server-sent-event stream (with the key in a header, which EventSource cannot send). */
export async function follow(
  path: string,
  onData: (data: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(path, { headers: { authorization: `Api-Key ${savedKey() ?? ''}` }, signal });
  if (!res.ok || !res.body) throw new ApiError(res.status, `Could not follow ${path}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) if (line.startsWith('data: ')) onData(line.slice(6));
    }
  }
}

export interface Deployment {
  id: string;
  name: string;
  model_id: string;
  model_name: string;
  status: DeploymentStatus;
  status_reason: string | null;
  active_replica_count: number;
  starting_replica_count: number;
  environment: string | null;
  is_development: boolean;
  instance_type_name: string;
  predict_url: string;
  created_at: string;
  autoscaling_settings: Record<string, number>;
}

export interface Promotion {
  id: string;
  status: string;
  phase: string;
  to_deployment_id: string;
  traffic_percent: number;
  is_paused: boolean;
  started_at: string;
  reason: string | null;
  actions: { action: string; by: string; at: string }[];
}

export interface Environment {
  name: string;
  public: boolean;
  current_deployment: Deployment | null;
  current_deployment_id: string | null;
  predict_url: string;
  in_progress_promotion: Promotion | null;
  autoscaling_settings: Record<string, number>;
  is_active: boolean;
  /** An environment's GET answers its promotion history, newest first. */
  promotions?: Promotion[];
}

export interface ModelSummary {
  id: string;
  name: string;
  created_at: string;
  deployments_count: number;
  environments: { name: string; current_deployment_id: string | null }[];
}

// A typed client for the management API, used by every CLI command.
import type { BundlePatch } from '../bundle/patch.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import { ApiError, UserError } from './errors.ts';
import type { Connection } from './connection.ts';

export interface DeploymentInfo {
  id: string;
  name: string;
  model_id: string;
  model_name: string;
  status: DeploymentStatus;
  status_reason: string | null;
  active_replica_count: number;
  environment: string | null;
  is_development: boolean;
  predict_url: string;
  instance_type_name: string;
  bundle_sha256: string;
  created_at: string;
  warnings?: string[];
  /** Present when a development deployment was reloaded in place. */
  reload?: ReloadInfo;
}

export interface ReloadInfo {
  changed: boolean;
  bundle_sha256: string;
  replica_id: string | null;
  took_ms: number;
}

export interface ModelInfo {
  id: string;
  name: string;
  created_at: string;
  deployments_count: number;
  production_deployment_id: string | null;
  development_deployment_id: string | null;
}

export interface ModelPage {
  models: ModelInfo[];
  /** Where the next page starts; null on the last page. */
  next_cursor: string | null;
}

export interface LogLine {
  id: number;
  time: string;
  level: string;
  source: string;
  replica: string | null;
  message: string;
}

export interface EventInfo {
  time: string;
  from: string | null;
  to: string;
  reason: string;
}

/** The API's `{"error": {code, message}}` answer as an ApiError (raw text when it is not JSON). */
export function apiErrorFrom(status: number, text: string, prefix = ''): ApiError {
  let code = `HTTP_${status}`;
  let message = text;
  try {
    const parsed = JSON.parse(text) as { error?: { code: string; message: string } };
    if (parsed.error) ({ code, message } = parsed.error);
  } catch {
    // not JSON: keep the raw text
  }
  return new ApiError(status, code, prefix + message);
}

export interface PromotionInfo {
  id: string;
  status: string;
  phase: string;
  from_deployment_id: string | null;
  to_deployment_id: string;
  traffic_percent: number;
  cleanup_strategy: string;
  reason: string | null;
  started_at: string;
  finished_at: string | null;
  is_paused: boolean;
  actions: { action: string; by: string; at: string }[];
}

export interface EnvironmentInfo {
  name: string;
  current_deployment: DeploymentInfo | null;
  current_deployment_id: string | null;
  autoscaling_settings: Record<string, number>;
  promotion_settings: Record<string, unknown>;
  instance_type_name: string | null;
  is_active: boolean;
  in_progress_promotion: PromotionInfo | null;
  predict_url: string;
  promotions?: PromotionInfo[];
}

export class ApiClient {
  constructor(readonly connection: Connection) {}

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const init: RequestInit = {
      method,
      headers: { authorization: `Api-Key ${this.connection.apiKey}`, ...headers },
    };
    if (Buffer.isBuffer(body)) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await fetch(`${this.connection.url}${path}`, init);
    } catch (err) {
      throw new UserError(
        `cannot reach the Plinth server at ${this.connection.url} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}); is \`plinth up\` running?`,
      );
    }
    const text = await res.text();
    if (!res.ok) throw apiErrorFrom(res.status, text || res.statusText);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A deployment's bundle: the tarball that was pushed, and its sha256. */
  async downloadDeployment(model: string, deployment: string): Promise<{ bytes: Buffer; sha256: string }> {
    const path = `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}/download`;
    let res: Response;
    try {
      res = await fetch(`${this.connection.url}${path}`, {
        headers: { authorization: `Api-Key ${this.connection.apiKey}` },
      });
    } catch (err) {
      throw new UserError(
        `cannot reach the Plinth server at ${this.connection.url}: ${(err as Error).message}`,
      );
    }
    if (!res.ok) throw apiErrorFrom(res.status, (await res.text()) || res.statusText);
    return { bytes: Buffer.from(await res.arrayBuffer()), sha256: res.headers.get('x-bundle-sha256') ?? '' };
  }

  async hasBundle(sha: string): Promise<boolean> {
    const res = await fetch(`${this.connection.url}/v1/bundles/${sha}`, {
      method: 'HEAD',
      headers: { authorization: `Api-Key ${this.connection.apiKey}` },
    }).catch((err: Error) => {
      throw new UserError(`cannot reach the Plinth server at ${this.connection.url} (${err.message})`);
    });
    if (res.status === 401) throw new ApiError(401, 'UNAUTHENTICATED', 'the API key was refused');
    return res.status === 200;
  }

  uploadBundle(sha: string, bytes: Buffer): Promise<unknown> {
    return this.request('PUT', `/v1/bundles/${sha}`, bytes, { 'content-type': 'application/gzip' });
  }

  createDeployment(
    model: string,
    body: { bundle_sha256: string; deployment_name?: string; development?: boolean },
  ): Promise<DeploymentInfo> {
    return this.request('POST', `/v1/models/${encodeURIComponent(model)}/deployments`, body);
  }

  patchDevelopment(model: string, patch: BundlePatch): Promise<DeploymentInfo> {
    return this.request(
      'POST',
      `/v1/models/${encodeURIComponent(model)}/deployments/development/patches`,
      patch,
    );
  }

  keepAwake(model: string, seconds: number): Promise<{ awake_until: string }> {
    return this.request(
      'POST',
      `/v1/models/${encodeURIComponent(model)}/deployments/development/keep_awake`,
      {
        seconds,
      },
    );
  }

  /** One page of models (every model when `limit` is undefined), and where the next page starts. */
  listModels(page: { limit?: number; cursor?: string } = {}): Promise<ModelPage> {
    const query = new URLSearchParams();
    if (page.limit !== undefined) query.set('limit', String(page.limit));
    if (page.cursor !== undefined) query.set('cursor', page.cursor);
    const search = query.toString();
    return this.request('GET', `/v1/models${search ? `?${search}` : ''}`);
  }

  getModel(model: string): Promise<ModelInfo> {
    return this.request('GET', `/v1/models/${encodeURIComponent(model)}`);
  }

  getDeployment(model: string, deployment: string): Promise<DeploymentInfo> {
    return this.request(
      'GET',
      `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}`,
    );
  }

  async listDeployments(model: string): Promise<DeploymentInfo[]> {
    return (
      await this.request<{ deployments: DeploymentInfo[] }>(
        'GET',
        `/v1/models/${encodeURIComponent(model)}/deployments`,
      )
    ).deployments;
  }

  deleteDeployment(model: string, deployment: string): Promise<unknown> {
    return this.request(
      'DELETE',
      `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}`,
    );
  }

  env(model: string, env: string): string {
    return `/v1/models/${encodeURIComponent(model)}/environments/${encodeURIComponent(env)}`;
  }

  getEnvironment(model: string, env: string): Promise<EnvironmentInfo> {
    return this.request('GET', this.env(model, env));
  }

  promote(
    model: string,
    env: string,
    deploymentId: string,
    preservePrevious?: boolean,
  ): Promise<EnvironmentInfo> {
    return this.request('POST', `${this.env(model, env)}/promote`, {
      deployment_id: deploymentId,
      ...(preservePrevious ? { preserve_previous_deployment: true } : {}),
    });
  }

  async events(model: string, deployment: string): Promise<EventInfo[]> {
    return (
      await this.request<{ events: EventInfo[] }>(
        'GET',
        `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}/events`,
      )
    ).events;
  }

  async logs(
    model: string,
    deployment: string,
    query: Record<string, string | number | undefined>,
  ): Promise<LogLine[]> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    const path = `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}/logs?${qs}`;
    return (await this.request<{ logs: LogLine[] }>('GET', path)).logs;
  }
}

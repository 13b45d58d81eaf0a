// Who may do what. Management routes need `deploy` (push, promote, settings, logs, metrics) or,
// for key and secret management, `admin`; `admin` may do everything; an `inference` key may only
// call models (the ones it names, when it names any). Pure.
import type { ApiKey, Model } from '../domain/types.ts';

/** `key`: any valid key, whatever its scope (`/metrics` with --metrics-auth). */
export type Access = 'open' | 'key' | 'deploy' | 'admin';

/**
 * What a management route needs; `path` is the route's pattern or a concrete path. Outside /v1
 * (the dashboard's files, /healthz, Prometheus's /metrics) nothing is secret.
 */
export function routeAccess(path: string): Access {
  if (!path.startsWith('/v1/') || path === '/v1/openapi.json') return 'open';
  if (
    path.startsWith('/v1/api_keys') ||
    path.startsWith('/v1/secrets') ||
    path.startsWith('/v1/webhook_secrets')
  )
    return 'admin';
  return 'deploy';
}

export function mayManage(key: ApiKey, access: Access): boolean {
  if (access === 'open' || access === 'key' || key.scope === 'admin') return true;
  return access === 'deploy' && key.scope === 'deploy';
}

export function mayCallModel(key: ApiKey, model: Model): boolean {
  if (key.scope !== 'inference' || key.models === null) return true;
  return key.models.includes(model.id) || key.models.includes(model.name);
}

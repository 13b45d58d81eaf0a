// Inference URLs → (model, target, action). Host form `model-{id}.localhost/…` and path form
// `/models/{id or name, URL-encoded}/…`, each with environments/{env}, deployment/{id}, development and production;
// actions predict, wake, websocket (a WebSocket upgrade), sync/{path}, and the async ones:
// async_predict, async_request/{id}, async_queue_status. Pure.
import { modelNameProblem } from '../domain/model-name.ts';

export type InferenceTarget =
  { kind: 'environment'; name: string } | { kind: 'deployment'; id: string } | { kind: 'development' };

export type InferenceAction =
  'predict' | 'wake' | 'sync' | 'websocket' | 'async_predict' | 'async_request' | 'async_queue_status';

/** The actions the async front answers (src/queue/), not a replica. */
export const ASYNC_ACTIONS: ReadonlySet<InferenceAction> = new Set([
  'async_predict',
  'async_request',
  'async_queue_status',
]);

export interface InferenceRoute {
  modelRef: string;
  target: InferenceTarget;
  action: InferenceAction;
  /** For `sync`: the path (and query) passed through to the server, from `/` on. */
  path?: string;
  /** For `async_request`: the request id. */
  requestId?: string;
}

const HOST_FORM = /^model-([a-z0-9][a-z0-9._-]*?)\./i;
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The model a path form's segment names: an id, or a model name URL-encoded (`My%20Model%20v2`).
 * Null when the segment does not decode to something that could name a model.
 */
function pathModelRef(segment: string): string | null {
  if (SEGMENT.test(segment)) return segment;
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    return null;
  }
  return modelNameProblem(name) === undefined ? name : null;
}

/** The target a route's leading parts name, and how many parts that took. */
function parseTarget(parts: string[]): { target: InferenceTarget; used: number } | null {
  const [head, arg] = parts;
  if ((head === 'environments' || head === 'deployment') && arg && SEGMENT.test(arg)) {
    return {
      target: head === 'environments' ? { kind: 'environment', name: arg } : { kind: 'deployment', id: arg },
      used: 2,
    };
  }
  if (head === 'development') return { target: { kind: 'development' }, used: 1 };
  if (head === 'production') return { target: { kind: 'environment', name: 'production' }, used: 1 };
  return null;
}

/** What of `path` follows its first `n` segments (empty segments, `//`, are not counted). */
function afterSegments(path: string, n: number): string {
  let at = 0;
  for (let seen = 0; seen < n; seen++) {
    while (path[at] === '/') at++;
    const end = path.indexOf('/', at);
    at = end === -1 ? path.length : end;
  }
  return path.slice(at);
}

/** `parts` after the model; `rawPath` the same path as sent (what `sync` passes through is cut from it). */
function parseRest(modelRef: string, parts: string[], rawPath: string, query: string): InferenceRoute | null {
  const found = parseTarget(parts);
  if (!found) return null;
  const rest = parts.slice(found.used);
  const action = rest[0];
  if (action === 'sync') {
    // What follows `/sync` as it was sent (its own slashes and escapes), and the query.
    const path = afterSegments(rawPath, found.used + 1);
    return {
      modelRef,
      target: found.target,
      action,
      path: (path.startsWith('/') ? path : `/${path}`) + query,
    };
  }
  if (
    rest.length === 1 &&
    (action === 'predict' ||
      action === 'wake' ||
      action === 'websocket' ||
      action === 'async_predict' ||
      action === 'async_queue_status')
  )
    return { modelRef, target: found.target, action };
  if (rest.length === 2 && action === 'async_request' && SEGMENT.test(rest[1]!))
    return { modelRef, target: found.target, action, requestId: rest[1]! };
  return null;
}

/** Whether `host` (a Host header, port and all) is `model-….<suffix>` for one of the suffixes. */
function underSuffix(host: string, suffixes: readonly string[]): boolean {
  const name = host.replace(/:\d+$/, '').replace(/\.$/, '').toLowerCase();
  return suffixes.some((s) => name.endsWith(`.${s}`));
}

/**
 * The inference route of a URL. The host form counts only under one of `hostSuffixes` (by
 * default `localhost`): `model-x.evil.example` is no route of this platform's.
 */
export function matchInference(
  host: string | undefined,
  url: string,
  hostSuffixes: readonly string[] = ['localhost'],
): InferenceRoute | null {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  const parts = path.split('/').filter((p) => p !== '');
  const hostMatch = host ? HOST_FORM.exec(host) : null;
  if (hostMatch && underSuffix(host!, hostSuffixes)) {
    const route = parseRest(hostMatch[1]!, parts, path, query);
    if (route) return route;
  }
  const pathRef = parts[0] === 'models' && parts[1] ? pathModelRef(parts[1]) : null;
  if (pathRef !== null) return parseRest(pathRef, parts.slice(2), afterSegments(path, 2), query);
  return null;
}

// Inference URLs → (model, target, action). Host form `model-{id}.localhost/…` and path form
// `/models/{id}/…`, each with environments/{env}, deployment/{id}, development and production. Pure.

export type InferenceTarget =
  { kind: 'environment'; name: string } | { kind: 'deployment'; id: string } | { kind: 'development' };

export type InferenceAction = 'predict' | 'wake';

export interface InferenceRoute {
  modelRef: string;
  target: InferenceTarget;
  action: InferenceAction;
}

const HOST_FORM = /^model-([a-z0-9][a-z0-9._-]*?)\./i;
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function parseRest(modelRef: string, parts: string[]): InferenceRoute | null {
  const action = parts.at(-1);
  if (action !== 'predict' && action !== 'wake') return null;
  const [head, arg] = parts;
  if (parts.length === 3 && head === 'environments' && arg && SEGMENT.test(arg)) {
    return { modelRef, target: { kind: 'environment', name: arg }, action };
  }
  if (parts.length === 3 && head === 'deployment' && arg && SEGMENT.test(arg)) {
    return { modelRef, target: { kind: 'deployment', id: arg }, action };
  }
  if (parts.length === 2 && head === 'development')
    return { modelRef, target: { kind: 'development' }, action };
  if (parts.length === 2 && head === 'production') {
    return { modelRef, target: { kind: 'environment', name: 'production' }, action };
  }
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
  const parts = path.split('/').filter((p) => p !== '');
  const hostMatch = host && underSuffix(host, hostSuffixes) ? HOST_FORM.exec(host) : null;
  if (hostMatch) {
    const route = parseRest(hostMatch[1]!, parts);
    if (route) return route;
  }
  if (parts[0] === 'models' && parts[1] && SEGMENT.test(parts[1])) return parseRest(parts[1], parts.slice(2));
  return null;
}

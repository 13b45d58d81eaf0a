// Parses config.yaml text into a validated, defaulted, frozen ModelConfig.
// Errors name the file and the key path; Truss keys Plinth ignores become warnings.
import { isMap, isScalar, parseDocument, visit } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';
import { PlinthError } from '../domain/errors.ts';
import {
  autoscalingSchema,
  configSchema,
  IGNORED_TRUSS_KEYS,
  REFUSED_TRUSS_KEYS,
  resourcesSchema,
  dockerServerSchema,
  runtimeSchema,
} from './schema.ts';
import type { ModelConfig } from './schema.ts';
import { nearestKey } from './suggest.ts';
import { staysInside } from './external-packages.ts';
import { customServerOf, singleReplicaReason } from '../domain/custom-server.ts';

export interface ParsedConfig {
  config: ModelConfig;
  warnings: string[];
}

const NESTED: Record<string, z.ZodObject> = {
  resources: resourcesSchema,
  runtime: runtimeSchema,
  autoscaling: autoscalingSchema,
  docker_server: dockerServerSchema,
};

function configError(file: string, message: string): PlinthError {
  return new PlinthError('INVALID_CONFIG', `${file}: ${message}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEmptyValue(v: unknown): boolean {
  return (
    (Array.isArray(v) && v.length === 0) || (isPlainObject(v) && Object.keys(v).length === 0) || v === ''
  );
}

/**
 * Truss's environment_variables as Truss sets them: numbers and booleans become strings (the
 * schema does that), and a null value leaves the variable unset, with a warning naming it.
 */
function dropNullVariables(screened: Record<string, unknown>, file: string, warnings: string[]): void {
  const vars = screened.environment_variables;
  if (!isPlainObject(vars)) return;
  const set: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(vars)) {
    if (value === null)
      warnings.push(`${file}: environment_variables.${name} is null: the variable is not set`);
    else set[name] = value;
  }
  screened.environment_variables = set;
}

/** Removes ignored Truss keys (with a warning) and rejects unknown ones, suggesting the nearest. */
function screenKeys(raw: Record<string, unknown>, file: string, warnings: string[]): Record<string, unknown> {
  const screen = (obj: Record<string, unknown>, known: string[], prefix: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(obj)) {
      const path = prefix + key;
      const refusal = REFUSED_TRUSS_KEYS[path];
      if (refusal !== undefined && value !== null && !isEmptyValue(value))
        throw configError(file, `${path} ${refusal}`);
      if (refusal !== undefined) continue;
      const ignoredReason = IGNORED_TRUSS_KEYS[path];
      // Truss writes absent values as null, [] or {}: a known key so written is left to its
      // default, and an ignored one asks for nothing, so nothing is said.
      if (value === null && (ignoredReason !== undefined || known.includes(key))) continue;
      if (ignoredReason !== undefined) {
        if (!isEmptyValue(value)) warnings.push(`${file}: ${path} is ignored: ${ignoredReason}`);
        continue;
      }
      if (!known.includes(key)) {
        const ignorable = Object.keys(IGNORED_TRUSS_KEYS)
          .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('.'))
          .map((k) => k.slice(prefix.length));
        const hint = nearestKey(key, [...known, ...ignorable]);
        throw configError(
          file,
          `unknown key "${path}"` +
            (hint ? ` — did you mean "${prefix}${hint}"?` : ` (known keys: ${known.join(', ')})`),
        );
      }
      const nested = prefix === '' ? NESTED[key] : undefined;
      out[key] = nested && isPlainObject(value) ? screen(value, Object.keys(nested.shape), `${key}.`) : value;
    }
    return out;
  };
  return screen(raw, Object.keys(configSchema.shape), '');
}

export function describePath(path: PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
}

/** The largest config.yaml accepted: a real one is a few KiB. */
export const MAX_CONFIG_BYTES = 256 * 1024;
/** The most mapping keys it may have, at every depth together. */
export const MAX_CONFIG_KEYS = 10_000;
/** Aliases it may expand (anchors reused): a "billion laughs" document is refused, not expanded. */
const MAX_ALIAS_COUNT = 100;

/** Refuses a config.yaml of more than MAX_CONFIG_BYTES. */
export function checkConfigSize(bytes: number, file: string): void {
  if (bytes > MAX_CONFIG_BYTES) {
    throw configError(file, `is ${Math.ceil(bytes / 1024)} KiB; the limit is ${MAX_CONFIG_BYTES / 1024} KiB`);
  }
}

/** Reads the YAML: bounded in size, keys and aliases, in time linear in its length. */
function readYaml(text: string, file: string): unknown {
  checkConfigSize(Buffer.byteLength(text), file);
  // Duplicate keys are found below, once per map (the parser's own check is quadratic).
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = first.linePos?.[0]?.line;
    const message = first.message.split('\n')[0];
    throw configError(file, `${line ? `line ${line}: ` : ''}invalid YAML: ${message}`);
  }
  let keys = 0;
  let problem: PlinthError | undefined;
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return undefined;
      const seen = new Set<string>();
      for (const pair of map.items) {
        const name = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
        keys++;
        if (seen.has(name)) problem ??= configError(file, `key "${name}" appears twice in one mapping`);
        seen.add(name);
      }
      if (keys > MAX_CONFIG_KEYS)
        problem ??= configError(
          file,
          `has more than ${MAX_CONFIG_KEYS} keys; a model's config needs far fewer`,
        );
      return problem ? visit.BREAK : undefined;
    },
  });
  if (problem) throw problem;
  numbersAsPythonWrites(doc);
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw configError(file, `invalid YAML: ${(err as Error).message} (anchors expand too much)`);
  }
}

/**
 * environment_variables' numbers become the strings Truss's Python makes of them: `1.0` stays
 * "1.0", `0.50` is "0.5", and `1e3` (a string to Python's YAML, which wants a dot) is "1e3".
 */
function numbersAsPythonWrites(doc: Document.Parsed): void {
  const vars = doc.get('environment_variables', true);
  if (!isMap(vars)) return;
  for (const pair of vars.items) {
    const value = pair.value;
    if (!isScalar(value) || typeof value.value !== 'number' || typeof value.source !== 'string') continue;
    const n = value.value;
    if (value.source.includes('.'))
      value.value = Number.isInteger(n) && Math.abs(n) < 1e16 ? `${n}.0` : String(n);
    else if (/[eE]/.test(value.source)) value.value = value.source;
  }
}

export function parseConfig(text: string, file = 'config.yaml'): ParsedConfig {
  const raw: unknown = readYaml(text, file) ?? {};
  if (!isPlainObject(raw)) throw configError(file, 'expected a mapping of keys at the top level');
  const warnings: string[] = [];
  // Truss's older name for model_cache.
  if (raw.hf_cache !== undefined) {
    if (raw.model_cache !== undefined && raw.model_cache !== null)
      throw configError(
        file,
        'hf_cache and model_cache are the same key (hf_cache is its older name): keep one',
      );
    raw.model_cache = raw.hf_cache;
    delete raw.hf_cache;
  }
  const screened = screenKeys(raw, file, warnings);
  dropNullVariables(screened, file, warnings);
  const result = configSchema.safeParse(screened);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = describePath(issue.path);
    throw configError(file, `${where ? `${where}: ` : ''}${issue.message}`);
  }
  const config = result.data;
  const scaling = config.autoscaling;
  if (scaling?.min_replica !== undefined && scaling.max_replica !== undefined) {
    if (scaling.max_replica < Math.max(1, scaling.min_replica)) {
      throw configError(
        file,
        `autoscaling.max_replica: must be at least min_replica (${scaling.min_replica})`,
      );
    }
  }
  checkRequirementsKeys(config, file);
  const server = customServerOf(config as unknown as Record<string, unknown>);
  const single = server && singleReplicaReason(server);
  if (single) warnings.push(`${file}: docker_server: on the local runtime, ${single}`);
  if (config.base_image)
    warnings.push(
      `${file}: base_image ${config.base_image.image}: on the local runtime the model runs on this machine's Python, in the deployment's environment; on Kubernetes its pods run that image`,
    );
  return { config: deepFreeze(config), warnings };
}

/** Truss refuses `requirements` and `requirements_file` together; the file must be in the bundle. */
function checkRequirementsKeys(config: ModelConfig, file: string): void {
  const reqFile = config.requirements_file;
  if (reqFile === undefined) return;
  if (config.requirements.length > 0) {
    throw configError(
      file,
      'requirements, requirements_file: give only one of them (Truss refuses both too: "Please ensure that only one of `requirements` and `requirements_file` is specified")',
    );
  }
  if (!staysInside(reqFile)) {
    throw configError(file, `requirements_file: ${reqFile} is outside the model directory`);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

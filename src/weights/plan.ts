// What a config.yaml asks to have downloaded at build time — Truss `weights`, `model_cache` (and its
// older alias `hf_cache`) and `external_data` — as a list of items, each with its source and where
// its files land relative to the app directory (Truss's places: `model_cache/{volume_folder}`,
// `{data_dir}/{local_data_path}`, `mount_location` made relative). Pure: no I/O, no network, so
// push checks it too (checkWeightsConfig).
import { posix } from 'node:path';
import type { ModelConfig } from '../config/schema.ts';
import { PlinthError } from '../domain/errors.ts';

/** Where the Hugging Face cache layout goes in an app dir (model_cache with use_volume false). */
export const HF_CACHE_DIR = '.plinth-hf-cache';
/** The secret a hub token comes from unless an item names another (Truss's default). */
export const DEFAULT_HUB_SECRET = 'hf_access_token';

export type WeightsSource =
  | { kind: 'hf'; repo: string; revision: string }
  | { kind: 'url'; url: string }
  | { kind: 'local'; path: string };

export interface WeightsItem {
  /** How logs and errors name it: `weights[0] (hf://org/repo@main)`. */
  label: string;
  source: WeightsSource;
  /** Under the app dir: a directory for a repository or local directory, a file for a URL. */
  dest: string;
  /** `hf-cache`: files go to `dest/models--org--name/snapshots/<commit>/…` as huggingface_hub keeps them. */
  layout: 'flat' | 'hf-cache';
  allowPatterns: string[];
  ignorePatterns: string[];
  /** The secret holding a token for the source (hub items; `auth_secret_name` for a URL). */
  secretName: string | null;
}

export interface WeightsPlan {
  items: WeightsItem[];
  warnings: string[];
}

const HF_REPO = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/** `hf://org/name@rev` (rev defaults to main), else null. */
export function parseHfSource(source: string): { repo: string; revision: string } | null {
  if (!source.startsWith('hf://')) return null;
  const rest = source.slice('hf://'.length);
  const at = rest.indexOf('@');
  const repo = at === -1 ? rest : rest.slice(0, at);
  const revision = at === -1 ? 'main' : rest.slice(at + 1);
  if (!HF_REPO.test(repo) || repo.includes('..') || !revision) return null;
  return { repo, revision };
}

/**
 * A path relative to the app dir, from a config value: no `..` step, no empty result. `what` names
 * the key in the error.
 */
export function appRelative(path: string, what: string): string {
  const normal = posix.normalize(path.replace(/\\/g, '/')).replace(/^(\.\/)+/, '');
  if (
    posix.isAbsolute(normal) ||
    normal === '.' ||
    normal === '' ||
    normal.split('/').includes('..') ||
    normal.includes('\0')
  )
    throw new Error(`${what}: "${path}" is not a path inside the app directory`);
  return normal.replace(/\/$/, '');
}

/**
 * Truss's `mount_location` (absolute) as a path under the app dir: under `/app` it is made relative
 * to it; elsewhere it keeps its path below the app dir, with a warning saying so.
 */
export function mountPath(mount: string, what: string, warnings: string[]): string {
  const normal = posix.normalize(mount);
  if (normal === '/app' || normal === '/app/')
    throw new Error(`${what}: "${mount}" is the app directory itself`);
  if (normal.startsWith('/app/')) return appRelative(normal.slice('/app/'.length), what);
  if (posix.isAbsolute(normal)) {
    const relative = appRelative(normal.slice(1), what);
    warnings.push(
      `${what}: "${mount}" is outside /app: Plinth puts the files at ${relative}/ in the app directory (read them relative to it)`,
    );
    return relative;
  }
  return appRelative(normal, what);
}

function urlSource(url: string, what: string): WeightsSource {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${what}: "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new Error(
      `${what}: "${url}": only hf://, https:// and http:// sources (or a local path) are fetched`,
    );
  return { kind: 'url', url };
}

/** The file name a URL's content gets inside a `mount_location` directory. */
export function urlFileName(url: string): string {
  const last = new URL(url).pathname.split('/').filter(Boolean).pop();
  return last ? decodeURIComponent(last) : 'download';
}

export function planWeights(config: ModelConfig): WeightsPlan {
  const items: WeightsItem[] = [];
  const warnings: string[] = [];
  (config.weights ?? []).forEach((w, i) => {
    const what = `weights[${i}]`;
    const dest = mountPath(w.mount_location, `${what}.mount_location`, warnings);
    const hf = parseHfSource(w.source);
    const secret = w.auth?.auth_secret_name ?? (hf ? DEFAULT_HUB_SECRET : null);
    const patterns = { allowPatterns: w.allow_patterns ?? [], ignorePatterns: w.ignore_patterns ?? [] };
    if (hf) {
      items.push({
        label: `${what} (${w.source})`,
        source: { kind: 'hf', ...hf },
        dest,
        layout: 'flat',
        ...patterns,
        secretName: secret,
      });
    } else if (w.source.startsWith('/') || w.source.startsWith('file://')) {
      const path = w.source.startsWith('file://') ? new URL(w.source).pathname : w.source;
      items.push({
        label: `${what} (${w.source})`,
        source: { kind: 'local', path: posix.normalize(path) },
        dest,
        layout: 'flat',
        ...patterns,
        secretName: null,
      });
    } else if (/^(s3|gs|azure):\/\//.test(w.source)) {
      throw new Error(
        `${what}.source: "${w.source}": cloud buckets are not fetched by Plinth; use hf://, https:// or a local path`,
      );
    } else {
      const source = urlSource(w.source, `${what}.source`);
      const file = appRelative(posix.join(dest, urlFileName(w.source)), `${what}.source`);
      items.push({
        label: `${what} (${w.source})`,
        source,
        dest: file,
        layout: 'flat',
        allowPatterns: [],
        ignorePatterns: [],
        secretName: w.auth?.auth_secret_name ?? null,
      });
    }
  });
  (config.model_cache ?? []).forEach((m, i) => {
    const what = `model_cache[${i}]`;
    if (m.kind && m.kind !== 'hf')
      throw new Error(
        `${what}.kind: "${m.kind}" is not fetched by Plinth; only Hugging Face repositories (kind hf)`,
      );
    if (!HF_REPO.test(m.repo_id))
      throw new Error(`${what}.repo_id: "${m.repo_id}" is not a Hugging Face repository id`);
    const revision = m.revision ?? 'main';
    const source = { kind: 'hf' as const, repo: m.repo_id, revision };
    const patterns = { allowPatterns: m.allow_patterns ?? [], ignorePatterns: m.ignore_patterns ?? [] };
    const label = `${what} (hf://${m.repo_id}@${revision})`;
    const secretName = m.runtime_secret_name ?? DEFAULT_HUB_SECRET;
    if (m.use_volume) {
      if (!m.volume_folder) throw new Error(`${what}.volume_folder: needed when use_volume is true`);
      const dest = appRelative(posix.join('model_cache', m.volume_folder), `${what}.volume_folder`);
      items.push({ label, source, dest, layout: 'flat', ...patterns, secretName });
    } else {
      items.push({ label, source, dest: HF_CACHE_DIR, layout: 'hf-cache', ...patterns, secretName });
    }
  });
  const dataDir = appRelative(config.data_dir || 'data', 'data_dir');
  config.external_data.forEach((e, i) => {
    const what = `external_data[${i}]`;
    const source = urlSource(e.url, `${what}.url`);
    const dest = appRelative(
      posix.join(dataDir, appRelative(e.local_data_path, `${what}.local_data_path`)),
      `${what}.local_data_path`,
    );
    items.push({
      label: `${what} (${e.url})`,
      source,
      dest,
      layout: 'flat',
      allowPatterns: [],
      ignorePatterns: [],
      secretName: null,
    });
  });
  return { items, warnings };
}

/** fnmatch as huggingface_hub applies it: `*` crosses `/`; a pattern ending in `/` means everything below. */
function patternRegex(pattern: string): RegExp {
  const p = pattern.endsWith('/') ? pattern + '*' : pattern;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end === -1) out += '\\[';
      else {
        const body = p.slice(i + 1, end).replace(/\\/g, '\\\\');
        out += `[${body.startsWith('!') ? '^' + body.slice(1) : body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

/** Whether a repository file is wanted: it matches an allow pattern (or there are none) and no ignore pattern. */
export function wanted(path: string, allow: readonly string[], ignore: readonly string[]): boolean {
  if (allow.length > 0 && !allow.some((p) => patternRegex(p).test(path))) return false;
  return !ignore.some((p) => patternRegex(p).test(path));
}

/**
 * What a config's weights, model_cache and external_data say at push, before anything is stored:
 * their warnings (each prefixed with `file`), or an INVALID_CONFIG error naming the key.
 */
export function checkWeightsConfig(config: ModelConfig, file: string): string[] {
  try {
    return planWeights(config).warnings.map((w) => `${file}: ${w}`);
  } catch (err) {
    throw new PlinthError('INVALID_CONFIG', `${file}: ${(err as Error).message}`);
  }
}

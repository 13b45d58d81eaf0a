// Patches of a model directory: what the CLI sends while it watches (files changed or added, with
// their contents, and files removed) and how the server applies one to an extracted bundle. The
// snapshot (path → content hash) is how the CLI finds what changed since the last sync.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { PlinthError } from '../domain/errors.ts';
import { listBundleFiles } from './pack.ts';

export interface PatchFile {
  path: string;
  content_base64: string;
}

export interface BundlePatch {
  /** The bundle the patch applies to: the development deployment's bundle_sha256. */
  base_sha256: string;
  files: PatchFile[];
  removed: string[];
}

export interface PatchLimits {
  maxBytes: number;
  maxFiles: number;
}

export const DEFAULT_PATCH_LIMITS: PatchLimits = { maxBytes: 256 * 1024 ** 2, maxFiles: 5000 };

/** Path → sha256 of the content, for every file a bundle of `dir` would hold. */
export type Snapshot = Map<string, string>;

export function snapshotDirectory(dir: string): Snapshot {
  const snapshot: Snapshot = new Map();
  for (const path of listBundleFiles(dir)) {
    snapshot.set(
      path,
      createHash('sha256')
        .update(readFileSync(join(dir, path)))
        .digest('hex'),
    );
  }
  return snapshot;
}

/** Files whose content changed or that are new, and files that are gone, sorted. */
export function diffSnapshots(before: Snapshot, after: Snapshot): { changed: string[]; removed: string[] } {
  const changed = [...after].filter(([path, hash]) => before.get(path) !== hash).map(([path]) => path);
  const removed = [...before.keys()].filter((path) => !after.has(path));
  return { changed: changed.sort(), removed: removed.sort() };
}

export function makePatch(
  dir: string,
  baseSha256: string,
  changed: string[],
  removed: string[],
): BundlePatch {
  return {
    base_sha256: baseSha256,
    files: changed.map((path) => ({
      path,
      content_base64: readFileSync(join(dir, path)).toString('base64'),
    })),
    removed,
  };
}

function checkPath(path: unknown, where: string): string {
  if (typeof path !== 'string' || path.length === 0 || path.length > 1024) {
    throw new PlinthError('BAD_REQUEST', `patch ${where}: a path must be a non-empty string`);
  }
  const parts = path.split('/');
  if (
    posix.isAbsolute(path) ||
    path.includes('\\') ||
    path.includes('\0') ||
    parts.some((p) => p === '..' || p === '.' || p === '') ||
    parts[0] === 'node_modules'
  ) {
    throw new PlinthError(
      'BAD_REQUEST',
      `patch ${where}: "${path}" is not a relative path inside the model directory`,
    );
  }
  return path;
}

/** Checks a patch body's shape, paths and size before anything is written. */
export function checkPatch(body: unknown, limits: PatchLimits = DEFAULT_PATCH_LIMITS): BundlePatch {
  const b = (body ?? {}) as Partial<BundlePatch>;
  if (typeof b.base_sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(b.base_sha256)) {
    throw new PlinthError(
      'BAD_REQUEST',
      'patch field "base_sha256" must be the 64-hex sha256 of the bundle it applies to',
    );
  }
  if (!Array.isArray(b.files) || !Array.isArray(b.removed)) {
    throw new PlinthError('BAD_REQUEST', 'patch fields "files" and "removed" must be arrays');
  }
  if (b.files.length + b.removed.length > limits.maxFiles) {
    throw new PlinthError(
      'PAYLOAD_TOO_LARGE',
      `patch touches ${b.files.length + b.removed.length} files; at most ${limits.maxFiles}`,
    );
  }
  let total = 0;
  const files = b.files.map((f, i) => {
    const path = checkPath(f?.path, `files[${i}].path`);
    if (typeof f.content_base64 !== 'string') {
      throw new PlinthError('BAD_REQUEST', `patch files[${i}].content_base64 must be a base64 string`);
    }
    total += Math.floor((f.content_base64.length * 3) / 4);
    if (total > limits.maxBytes) {
      throw new PlinthError('PAYLOAD_TOO_LARGE', `patch content is over ${limits.maxBytes} bytes`);
    }
    return { path, content_base64: f.content_base64 };
  });
  const removed = b.removed.map((p, i) => checkPath(p, `removed[${i}]`));
  return { base_sha256: b.base_sha256, files, removed };
}

/** Writes a checked patch into an extracted bundle. */
export function applyPatch(dir: string, patch: BundlePatch): void {
  for (const path of patch.removed) rmSync(join(dir, path), { force: true });
  for (const f of patch.files) {
    const target = join(dir, f.path);
    rmSync(target, { force: true, recursive: true });
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, Buffer.from(f.content_base64, 'base64'));
  }
}

// Puts cached files where the model reads them: a hard link from the cache into the app dir (a
// copy across filesystems), and a manifest in the app dir (`.plinth-weights.json`) listing each
// placed file by path and sha256 — what a Kubernetes pod's init container reads to fetch them into
// its own cache volume, and what the app artifact leaves out. Never writes outside the app dir.
import {
  copyFileSync,
  linkSync,
  symlinkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { isSha256 } from './cache.ts';

export const MANIFEST_FILE = '.plinth-weights.json';
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export interface PlacedFile {
  /** Relative to the app dir, `/`-separated. */
  path: string;
  sha256: string;
  size: number;
}

/** The absolute path of `rel` inside `appDir`; refuses one that would leave it. */
export function insideApp(appDir: string, rel: string): string {
  const root = resolve(appDir);
  const target = resolve(root, rel);
  if (target === root || !target.startsWith(root + sep) || rel.includes('\0'))
    throw new Error(`"${rel}" is not a path inside the app directory`);
  // No directory on the way may be a symbolic link (one in the bundle could point anywhere).
  let dir = dirname(target);
  while (dir.length > root.length) {
    try {
      if (lstatSync(dir).isSymbolicLink())
        throw new Error(
          `"${rel}": ${relative(root, dir)} is a symbolic link (a bundle's, or build_commands' output, which every deployment on the environment shares); weights cannot be placed through it: mount them elsewhere`,
        );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    dir = dirname(dir);
  }
  return target;
}

/**
 * Links `blob` to `rel` inside the app dir, replacing what is there; across filesystems it copies
 * it, or (in a pod, whose cache volume its model server mounts too) links to it symbolically.
 */
export function placeFile(
  appDir: string,
  rel: string,
  blob: string,
  acrossDevices: 'copy' | 'symlink' = 'copy',
): void {
  const target = insideApp(appDir, rel);
  mkdirSync(dirname(target), { recursive: true });
  try {
    const [a, b] = [statSync(target), statSync(blob)];
    if (a.ino === b.ino && a.dev === b.dev) return;
  } catch {
    // not there yet
  }
  const tmp = `${target}.plinth-${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  try {
    linkSync(blob, tmp);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
    if (acrossDevices === 'symlink') symlinkSync(blob, tmp);
    else copyFileSync(blob, tmp);
  }
  const existing = lstatSync(target, { throwIfNoEntry: false });
  if (existing?.isDirectory()) rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
}

export function writeManifest(appDir: string, files: PlacedFile[]): void {
  const path = join(appDir, MANIFEST_FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify({ files }));
  renameSync(`${path}.tmp`, path);
}

/** The files a build placed in an app dir (none when it has no manifest); each entry checked. */
export function readManifest(appDir: string): PlacedFile[] {
  let text: string;
  try {
    const path = join(appDir, MANIFEST_FILE);
    if (statSync(path).size > MAX_MANIFEST_BYTES) throw new Error(`${MANIFEST_FILE} is too large`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files = (JSON.parse(text) as { files?: unknown }).files;
  if (!Array.isArray(files)) throw new Error(`${MANIFEST_FILE}: expected {"files": [...]}`);
  return files.map((f: Partial<PlacedFile>, i) => {
    if (
      typeof f?.path !== 'string' ||
      typeof f.sha256 !== 'string' ||
      !isSha256(f.sha256) ||
      !Number.isSafeInteger(f.size)
    )
      throw new Error(`${MANIFEST_FILE}: files[${i}] is not {path, sha256, size}`);
    insideApp(appDir, f.path);
    return { path: f.path, sha256: f.sha256, size: f.size! };
  });
}

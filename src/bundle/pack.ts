// Packs a model directory into a deterministic gzip tarball and hashes it (sha256), honouring
// .plinthignore and .truss_ignore. The same content always gives the same hash.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create } from 'tar';
import { PlinthError } from '../domain/errors.ts';
import { DEFAULT_IGNORES, isIgnored, parseIgnore } from './ignore.ts';

export interface PackedBundle {
  bytes: Buffer;
  sha256: string;
  /** Every packed file, relative to the directory, with forward slashes, sorted. */
  files: string[];
}

export const IGNORE_FILES = ['.plinthignore', '.truss_ignore'];

export function listBundleFiles(dir: string): string[] {
  if (!existsSync(dir) || !lstatSync(dir).isDirectory()) {
    throw new PlinthError('INVALID_BUNDLE', `${dir} is not a directory`);
  }
  let ignoreText = DEFAULT_IGNORES.join('\n');
  for (const name of IGNORE_FILES) {
    const file = join(dir, name);
    if (existsSync(file)) ignoreText += '\n' + readFileSync(file, 'utf8');
  }
  const rules = parseIgnore(ignoreText);
  const files: string[] = [];
  const walk = (rel: string): void => {
    const entries = readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    for (const entry of entries) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      const isDir = entry.isDirectory();
      if (isIgnored(rules, path, isDir)) continue;
      if (isDir) walk(path);
      else if (entry.isFile() || entry.isSymbolicLink()) files.push(path);
    }
  };
  walk('');
  return files;
}

export async function packDirectory(dir: string): Promise<PackedBundle> {
  const files = listBundleFiles(dir);
  const chunks: Buffer[] = [];
  const stream = create({ cwd: dir, gzip: true, portable: true, noMtime: true, noDirRecurse: true }, files);
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  return { bytes, sha256: sha256Hex(bytes), files };
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

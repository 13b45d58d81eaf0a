// Packs a model directory into a deterministic gzip tarball and hashes it (sha256), honouring
// .plinthignore and .truss_ignore. The same content always gives the same hash. Folders from
// outside the directory (external_package_dirs) can be packed into it under a prefix.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { create } from 'tar';
import { PlinthError } from '../domain/errors.ts';
import { DEFAULT_IGNORES, isIgnored, parseIgnore } from './ignore.ts';

export interface PackedBundle {
  bytes: Buffer;
  sha256: string;
  /** Every packed file, relative to the directory, with forward slashes, sorted (extra folders last). */
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

/** A folder from outside the model directory, packed under `prefix` (external_package_dirs). */
export interface ExtraFolder {
  dir: string;
  prefix: string;
}

/**
 * Packs `dir`, and each extra folder's files (its own ignore files honoured) under its prefix,
 * which the directory itself may not use.
 */
export async function packDirectory(dir: string, extras: readonly ExtraFolder[] = []): Promise<PackedBundle> {
  const files = listBundleFiles(dir);
  const renamed = new Map<string, string>();
  const entries = [...files];
  for (const extra of extras) {
    // A folder holding the directory would pack the directory's own files under its prefix.
    if (dir === extra.dir || dir.startsWith(`${extra.dir}/`))
      throw new PlinthError('INVALID_BUNDLE', `${extra.dir} holds the model directory ${dir} itself`);
    const taken = files.find((f) => f === extra.prefix || f.startsWith(`${extra.prefix}/`));
    if (taken) {
      throw new PlinthError(
        'INVALID_BUNDLE',
        `${join(dir, taken)}: ${extra.prefix}/ is where Plinth packs external_package_dirs`,
      );
    }
    for (const file of listBundleFiles(extra.dir)) {
      const absolute = resolve(extra.dir, file);
      const packedAs = `${extra.prefix}/${file}`;
      renamed.set(absolute, packedAs);
      entries.push(relative(dir, absolute));
      files.push(packedAs);
    }
  }
  const chunks: Buffer[] = [];
  const stream = create(
    {
      cwd: dir,
      gzip: true,
      portable: true,
      noMtime: true,
      noDirRecurse: true,
      // An extra folder's file (named from the directory, `../lib/x.py`) is packed under its prefix.
      onWriteEntry: (entry) => {
        const packedAs = renamed.get(entry.absolute);
        if (packedAs !== undefined) entry.path = packedAs;
      },
    },
    entries,
  );
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  return { bytes, sha256: sha256Hex(bytes), files };
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

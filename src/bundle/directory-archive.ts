// A built app directory or a prepared environment, as a gzip tarball streamed from the control
// plane to a replica's init container (kubernetes backend), and unpacked there. Unlike a bundle it
// keeps symbolic links as they are, absolute ones too (a venv's interpreter, a linked
// node_modules): it comes from the platform, not from a user. Unpacking still refuses an entry
// whose own path is absolute or climbs out of the target directory.
import { mkdirSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { create, extract } from 'tar';

/** `exclude`: paths relative to `dir` (`/`-separated) left out (weights a pod fetches by itself). */
export function archiveDirectory(dir: string, exclude: ReadonlySet<string> = new Set()): Readable {
  const filter = exclude.size ? (path: string) => !exclude.has(path.replace(/^\.\//, '')) : undefined;
  return create({ cwd: dir, gzip: true, portable: true, filter }, ['.']) as unknown as Readable;
}

export async function unpackArchive(source: Readable | NodeJS.ReadableStream, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  let refused: string | null = null;
  const x = extract({
    cwd: dest,
    strict: true,
    // Keeps absolute link targets; entry paths are checked below instead.
    preservePaths: true,
    filter: (path) => {
      const bad = isAbsolute(path) || path.split(/[\\/]/).includes('..');
      if (bad) refused ??= path;
      return !bad;
    },
  });
  await pipeline(source, x as unknown as NodeJS.WritableStream);
  if (refused) throw new Error(`the archive has an entry outside its directory: ${refused}`);
}

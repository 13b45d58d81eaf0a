// A built app directory or a prepared environment, as a gzip tarball streamed from the control
// plane to a replica's init container (kubernetes backend), and unpacked there. Unlike a bundle it
// keeps symbolic links (a venv's interpreter, a linked node_modules): it comes from the platform,
// not from a user. Unpacking still refuses paths that leave the target directory.
import { mkdirSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { create, extract } from 'tar';

export function archiveDirectory(dir: string): Readable {
  return create({ cwd: dir, gzip: true, portable: true }, ['.']) as unknown as Readable;
}

export async function unpackArchive(source: Readable | NodeJS.ReadableStream, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  const x = extract({ cwd: dest, strict: true, preservePaths: false });
  await pipeline(source, x as unknown as NodeJS.WritableStream);
}

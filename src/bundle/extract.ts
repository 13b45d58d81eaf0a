// Safe bundle extraction: every entry is checked before anything is written, and a bundle that
// tries to escape its directory, carries device files, or is too big is refused with a clear error.
// Extraction goes to a temporary sibling directory renamed into place, so no half-written bundle.
// What it writes belongs to the server (the directory 0700), with no setuid, setgid or sticky bit.
import { mkdirSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, posix } from 'node:path';
import { Readable } from 'node:stream';
import { Parser, extract } from 'tar';
import type { ReadEntry } from 'tar';
import { PlinthError } from '../domain/errors.ts';

export interface ExtractLimits {
  maxBytes: number;
  maxFiles: number;
}

export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = { maxBytes: 2 * 1024 ** 3, maxFiles: 20000 };

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
const METADATA_TYPES = new Set([
  'ExtendedHeader',
  'GlobalExtendedHeader',
  'NextFileHasLongPath',
  'NextFileHasLongLinkpath',
]);

function refuse(message: string): PlinthError {
  return new PlinthError('INVALID_BUNDLE', `bundle refused: ${message}`);
}

function escapes(path: string): boolean {
  return posix.isAbsolute(path) || /^[a-zA-Z]:/.test(path) || path.split(/[\\/]/).includes('..');
}

export interface BundleEntry {
  path: string;
  type: string;
  size: number;
  /** The file's bytes, for the one file asked for (`InspectRead`) when it is small enough. */
  data?: Buffer;
}

/** A file whose bytes inspection keeps (config.yaml), when it holds at most `maxBytes`. */
export interface InspectRead {
  path: string;
  maxBytes: number;
}

/**
 * Compressed bytes fed to the tar parser at a time: each write inflates to at most about a
 * thousand times its size (gzip's limit), so memory stays bounded whatever the bundle expands to.
 */
const CHUNK_BYTES = 1024;
/** Work between two turns of the event loop: a bundle of many small files does not stall the server. */
const TURN_MS = 5;

/**
 * Lists and checks every entry of a gzip tarball, streaming it in small chunks; throws
 * INVALID_BUNDLE on the first bad entry and stops reading there (a gzip bomb is refused at the
 * header that declares too much, before its bytes are inflated).
 */
export async function inspectBundle(
  bytes: Buffer,
  limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
  read?: InspectRead,
): Promise<BundleEntry[]> {
  const entries: BundleEntry[] = [];
  let problem: PlinthError | undefined;
  let total = 0;
  const seen = new Set<string>();
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (problem) return entry.resume();
      problem = checkEntry(entry, limits, (total += entry.size ?? 0), entries.length + 1, entries);
      // tar writes a later entry of the same path over an earlier one: what is checked (a
      // config.yaml read here) must be what lands on disk, so a path may come once.
      const path = bundlePath(entry.path);
      if (!problem && !METADATA_TYPES.has(entry.type)) {
        if (seen.has(path) && entry.type !== 'Directory')
          problem = refuse(`"${entry.path}" appears more than once in the bundle`);
        seen.add(path);
      }
      const listed: BundleEntry = { path: entry.path, type: entry.type, size: entry.size ?? 0 };
      entries.push(listed);
      if (
        read &&
        !problem &&
        isFile(listed) &&
        bundlePath(entry.path) === read.path &&
        listed.size <= read.maxBytes
      ) {
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => (listed.data = Buffer.concat(chunks)));
      } else entry.resume();
    },
  });
  parser.on('warn', (_code: string, message: string | Error) => {
    problem ??= refuse(`not a valid gzip tarball (${String(message)})`);
  });
  parser.on('error', (err: Error) => {
    problem ??= refuse(`not a valid gzip tarball (${err.message})`);
  });
  try {
    let turn = performance.now();
    for (let at = 0; at < bytes.length && !problem; at += CHUNK_BYTES) {
      parser.write(bytes.subarray(at, at + CHUNK_BYTES));
      if (performance.now() - turn > TURN_MS) {
        await new Promise((r) => setImmediate(r));
        turn = performance.now();
      }
    }
    if (problem) parser.abort(problem);
    else parser.end();
  } catch (err) {
    problem ??= refuse(`not a valid gzip tarball (${(err as Error).message})`);
  }
  if (problem) throw problem;
  return entries;
}

function isFile(e: BundleEntry): boolean {
  return e.type === 'File' || e.type === 'OldFile' || e.type === 'ContiguousFile';
}

/** An entry's path as the bundle's own files are named (`./model/x` is `model/x`). */
export function bundlePath(path: string): string {
  const normal = posix.normalize(path).replace(/\/+$/, '');
  return normal === '.' ? '' : normal.replace(/^(\.\/)+/, '');
}

function checkEntry(
  entry: ReadEntry,
  limits: ExtractLimits,
  totalBytes: number,
  count: number,
  earlier: readonly BundleEntry[],
): PlinthError | undefined {
  const path = entry.path;
  if (METADATA_TYPES.has(entry.type)) return undefined;
  if (!ALLOWED_TYPES.has(entry.type))
    return refuse(`"${path}" is a ${entry.type} entry; only files, directories and links are allowed`);
  if (escapes(path)) return refuse(`"${path}" points outside the bundle (absolute path or "..")`);
  if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
    const target = entry.linkpath ?? '';
    const resolved =
      entry.type === 'Link'
        ? posix.normalize(target)
        : posix.normalize(posix.join(posix.dirname(path), target));
    if (posix.isAbsolute(target) || resolved === '..' || resolved.startsWith('../')) {
      return refuse(`link "${path}" -> "${target}" leaves the bundle`);
    }
    // A hard link can only name a file the bundle already holds (anything else cannot be made).
    if (entry.type === 'Link' && !earlier.some((e) => isFile(e) && posix.normalize(e.path) === resolved)) {
      return refuse(`hard link "${path}" -> "${target}" names no file earlier in the bundle`);
    }
  }
  if (count > limits.maxFiles) return refuse(`more than ${limits.maxFiles} files`);
  if (totalBytes > limits.maxBytes) return refuse(`more than ${limits.maxBytes} bytes when unpacked`);
  return undefined;
}

/**
 * Extracts a checked bundle into `dest` (which must not exist yet); `inspected`, the entries an
 * inspection of these same bytes returned, spares a second one.
 */
export async function extractBundle(
  bytes: Buffer,
  dest: string,
  limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
  inspected?: BundleEntry[],
): Promise<string[]> {
  const entries = inspected ?? (await inspectBundle(bytes, limits));
  const staging = `${dest}.partial-${process.pid}-${Date.now()}`;
  mkdirSync(dirname(dest), { recursive: true });
  // The server's alone until a replica is given it (the runtime opens it to that replica's user).
  mkdirSync(staging, { recursive: true, mode: 0o700 });
  try {
    await new Promise<void>((resolve, reject) => {
      const x = extract({
        cwd: staging,
        strict: true,
        preservePaths: false,
        noChmod: false,
        // Files belong to the server, whoever the bundle says owned them (tar keeps owners for root).
        preserveOwner: false,
        // No setuid, setgid or sticky bit: a replica must not gain another user's rights from its bundle.
        filter: (_path: string, entry: ReadEntry | Stats) => {
          if (typeof entry.mode === 'number') entry.mode &= 0o777;
          return true;
        },
      });
      x.on('error', reject);
      x.on('warn', (_code: string, message: string | Error) => reject(new Error(String(message))));
      x.on('close', () => resolve());
      x.on('finish', () => resolve());
      // In small chunks, with backpressure: a small, highly compressible bundle never inflates whole in memory.
      Readable.from(chunksOf(bytes, CHUNK_BYTES * 16)).pipe(x);
    });
    renameSync(staging, dest);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    // A full disk is the server's trouble, not the bundle's.
    if (err instanceof PlinthError || (err as NodeJS.ErrnoException).code === 'ENOSPC') throw err;
    throw refuse((err as Error).message);
  }
  return bundleFiles(entries);
}

/** The files (and links) a bundle's entries make, by their paths in the bundle. */
export function bundleFiles(entries: readonly BundleEntry[]): string[] {
  return entries
    .filter((e) => e.type !== 'Directory' && !METADATA_TYPES.has(e.type))
    .map((e) => bundlePath(e.path));
}

function* chunksOf(bytes: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

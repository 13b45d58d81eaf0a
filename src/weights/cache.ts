// The content-addressed weights cache in the Plinth home, shared by every deployment and replica:
// `blobs/<sha256>` (read-only files), an index from (source, revision, path) to a blob, `.partial`
// downloads that resume, and lock files. A file is fetched once even when several builds want it
// at once: one promise per file in this process, one lock file across processes (the lock only
// saves work — a blob is renamed into place whole, so two holders could never leave a torn one).
import { createHash } from 'node:crypto';
import { copyFile } from 'node:fs/promises';
import {
  chmodSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FOREIGN_STALE_MS, touchLock, tryLock, unlock } from '../builder/process-lock.ts';
import { DownloadError, downloadResumable } from './download.ts';

export interface CacheEntry {
  sha256: string;
  size: number;
}

/** One file to have in the cache. */
export interface FileSpec {
  /** (source, revision, path): the index key. */
  key: string;
  /** How messages name it. */
  file: string;
  /** Where it is downloaded from; or `localPath`, a file on this machine copied in. */
  url: string | null;
  localPath?: string;
  expectedSize: number | null;
  expectedSha256: string | null;
  expectedGitOid: string | null;
  token: string | null;
}

export interface CacheOptions {
  /** A download with no byte for this long is aborted (and retried, resuming). */
  stallMs?: number;
  /** Tries per file (network failures, 5xx, stalls); a 4xx fails at once. */
  attempts?: number;
}

const SHA256 = /^[0-9a-f]{64}$/;

export function isSha256(s: string): boolean {
  return SHA256.test(s);
}

async function hashFile(
  path: string,
  gitSize: number | null,
): Promise<{ sha256: string; gitOid: string | null }> {
  const sha = createHash('sha256');
  const git = gitSize === null ? null : createHash('sha1').update(`blob ${gitSize}\0`);
  for await (const chunk of createReadStream(path)) {
    sha.update(chunk as Buffer);
    git?.update(chunk as Buffer);
  }
  return { sha256: sha.digest('hex'), gitOid: git ? git.digest('hex') : null };
}

export class WeightsCache {
  private readonly inFlight = new Map<string, Promise<{ entry: CacheEntry; fetched: boolean }>>();
  private readonly stallMs: number;
  private readonly attempts: number;

  constructor(
    readonly root: string,
    options: CacheOptions = {},
  ) {
    this.stallMs = options.stallMs ?? 60_000;
    this.attempts = options.attempts ?? 3;
  }

  blobPath(sha256: string): string {
    if (!isSha256(sha256)) throw new Error(`"${sha256}" is not a sha256`);
    return join(this.root, 'blobs', sha256);
  }

  private keyId(key: string): string {
    return createHash('sha256').update(key).digest('hex');
  }

  private indexPath(key: string): string {
    return join(this.root, 'index', this.keyId(key) + '.json');
  }

  /** The cached entry for a key, if its blob is there. */
  lookup(key: string): CacheEntry | null {
    try {
      const entry = JSON.parse(readFileSync(this.indexPath(key), 'utf8')) as CacheEntry & { key: string };
      if (entry.key !== key || !isSha256(entry.sha256)) return null;
      return statSync(this.blobPath(entry.sha256)).size === entry.size
        ? { sha256: entry.sha256, size: entry.size }
        : null;
    } catch {
      return null;
    }
  }

  private record(key: string, entry: CacheEntry): void {
    const path = this.indexPath(key);
    mkdirSync(join(this.root, 'index'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ key, ...entry }));
    renameSync(tmp, path);
  }

  /** Small JSON kept beside the blobs (a repository listing at a commit), by key. */
  readNote<T>(key: string): T | null {
    try {
      return JSON.parse(readFileSync(join(this.root, 'notes', this.keyId(key) + '.json'), 'utf8')) as T;
    } catch {
      return null;
    }
  }

  writeNote(key: string, value: unknown): void {
    const dir = join(this.root, 'notes');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, this.keyId(key) + '.json');
    writeFileSync(`${path}.${process.pid}.tmp`, JSON.stringify(value));
    renameSync(`${path}.${process.pid}.tmp`, path);
  }

  /**
   * Has the file in the cache: from the index, else fetched (once, however many ask). `fetched` is
   * whether this call downloaded it.
   */
  ensure(spec: FileSpec, onBytes?: (n: number) => void): Promise<{ entry: CacheEntry; fetched: boolean }> {
    const hit = this.lookup(spec.key);
    if (hit) return Promise.resolve({ entry: hit, fetched: false });
    const id = this.keyId(spec.key);
    let running = this.inFlight.get(id);
    if (!running) {
      running = this.fetchLocked(spec, id, onBytes).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, running);
    }
    return running;
  }

  private async fetchLocked(
    spec: FileSpec,
    id: string,
    onBytes?: (n: number) => void,
  ): Promise<{ entry: CacheEntry; fetched: boolean }> {
    for (const dir of ['blobs', 'partial', 'locks']) mkdirSync(join(this.root, dir), { recursive: true });
    const lock = join(this.root, 'locks', id + '.lock');
    for (;;) {
      if (tryLock(lock)) {
        try {
          const hit = this.lookup(spec.key);
          if (hit) return { entry: hit, fetched: false };
          // Refreshed while held, so that control planes on other hosts see it is alive.
          const refresh = setInterval(() => touchLock(lock), FOREIGN_STALE_MS / 4);
          try {
            return { entry: await this.fetch(spec, id, onBytes), fetched: true };
          } finally {
            clearInterval(refresh);
          }
        } finally {
          unlock(lock);
        }
      }
      // Another process fetches it: wait for its index entry (or take the lock if it died).
      await sleep(200);
      const hit = this.lookup(spec.key);
      if (hit) return { entry: hit, fetched: false };
    }
  }

  private async fetch(spec: FileSpec, id: string, onBytes?: (n: number) => void): Promise<CacheEntry> {
    // Content already here under another name (the same file in another repository or revision).
    if (spec.expectedSha256 && spec.expectedSize !== null) {
      try {
        if (statSync(this.blobPath(spec.expectedSha256)).size === spec.expectedSize) {
          const entry = { sha256: spec.expectedSha256, size: spec.expectedSize };
          this.record(spec.key, entry);
          return entry;
        }
      } catch {
        // not here
      }
    }
    const partial = join(this.root, 'partial', id + '.partial');
    if (spec.localPath !== undefined) {
      // Asynchronously: a multi-GB copy must not hold the API and the gateway still.
      await copyFile(spec.localPath, partial);
      onBytes?.(statSync(partial).size);
    } else {
      await this.download(spec, partial, onBytes);
    }
    const size = statSync(partial).size;
    const { sha256, gitOid } = await hashFile(partial, spec.expectedGitOid ? size : null);
    const mismatch =
      spec.expectedSha256 && sha256 !== spec.expectedSha256
        ? `its sha256 is ${sha256}; the source says ${spec.expectedSha256}`
        : spec.expectedGitOid && gitOid !== spec.expectedGitOid
          ? `its git blob id is ${gitOid}; the source says ${spec.expectedGitOid}`
          : spec.expectedSize !== null && size !== spec.expectedSize
            ? `it is ${size} bytes; the source says ${spec.expectedSize}`
            : null;
    if (mismatch) {
      rmSync(partial, { force: true });
      throw new Error(`${spec.file}: ${spec.url ?? spec.localPath}: ${mismatch}; the download was discarded`);
    }
    const blob = this.blobPath(sha256);
    if (existsSync(blob)) rmSync(partial, { force: true });
    else {
      chmodSync(partial, 0o444);
      renameSync(partial, blob);
    }
    const entry = { sha256, size };
    this.record(spec.key, entry);
    return entry;
  }

  private async download(spec: FileSpec, partial: string, onBytes?: (n: number) => void): Promise<void> {
    let last: Error | null = null;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        await downloadResumable(spec.url!, partial, {
          file: spec.file,
          expectedSize: spec.expectedSize,
          token: spec.token,
          stallMs: this.stallMs,
          onBytes,
        });
        return;
      } catch (err) {
        last = err as Error;
        const status = err instanceof DownloadError ? err.status : null;
        // A refusal (404, 401) does not change by asking again.
        if (
          status !== null &&
          status >= 400 &&
          status < 500 &&
          status !== 408 &&
          status !== 429 &&
          status !== 416
        )
          throw err;
        if (attempt < this.attempts) await sleep(Math.min(200 * 2 ** attempt, 5000));
      }
    }
    throw last!;
  }
}

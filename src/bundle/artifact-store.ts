// The content-addressed bundle store: one gzip tarball per sha256 under <home>/bundles.
// A write is verified against its hash and renamed into place, so a stored bundle is never partial;
// what a crash left half-written is removed when the store opens.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PlinthError } from '../domain/errors.ts';

const SHA256 = /^[0-9a-f]{64}$/;

export class ArtifactStore {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) if (name.includes('.tmp-')) rmSync(join(dir, name), { force: true });
  }

  static checkSha(sha: string): string {
    if (!SHA256.test(sha))
      throw new PlinthError('BAD_REQUEST', `"${sha}" is not a sha256 (64 lowercase hex characters)`);
    return sha;
  }

  pathOf(sha: string): string {
    return join(this.dir, `${ArtifactStore.checkSha(sha)}.tar.gz`);
  }

  has(sha: string): boolean {
    return existsSync(this.pathOf(sha));
  }

  put(sha: string, bytes: Buffer): void {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== ArtifactStore.checkSha(sha)) {
      throw new PlinthError('BUNDLE_HASH_MISMATCH', `bundle content hashes to ${actual}, not ${sha}`);
    }
    if (this.has(sha)) return;
    const tmp = `${this.pathOf(sha)}.tmp-${process.pid}-${Date.now()}`;
    try {
      writeFileSync(tmp, bytes);
      renameSync(tmp, this.pathOf(sha));
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  remove(sha: string): void {
    rmSync(this.pathOf(sha), { force: true });
  }

  get(sha: string): Buffer {
    if (!this.has(sha)) throw new PlinthError('BUNDLE_NOT_FOUND', `bundle ${sha} has not been uploaded`);
    return readFileSync(this.pathOf(sha));
  }
}

// In a replica pod on Kubernetes (the init container, `plinth fetch-artifacts --weights`): the
// weights and data the build placed in the app dir, listed by its manifest, fetched by sha256 from
// the control plane into the shared cache volume when missing there (temp file, hash checked,
// renamed into place: pods racing for one file both leave it whole), then linked into the app dir.
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { downloadResumable } from './download.ts';
import { placeFile, readManifest } from './place.ts';

const ATTEMPTS = 5;
/** A pod's partial file untouched this long is one its pod left behind (deleted mid-fetch). */
const ABANDONED_PARTIAL_MS = 24 * 3600_000;

/** Removes partial files no pod has written to for a day: the volume is shared and not pruned. */
function sweepAbandoned(partials: string): void {
  const cutoff = Date.now() - ABANDONED_PARTIAL_MS;
  for (const name of readdirSync(partials)) {
    const path = join(partials, name);
    if ((statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < cutoff)
      rmSync(path, { force: true });
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Makes every file of `appDir`'s manifest present, from `cacheDir` or `${baseUrl}/<sha256>`. */
export async function fetchWeightsInto(
  appDir: string,
  baseUrl: string,
  cacheDir: string,
  apiKey: string | undefined,
  log: (line: string) => void = console.log,
): Promise<void> {
  const files = readManifest(appDir);
  if (files.length === 0) return;
  for (const dir of ['blobs', 'partial']) mkdirSync(join(cacheDir, dir), { recursive: true });
  sweepAbandoned(join(cacheDir, 'partial'));
  let fetched = 0;
  const bySha = new Map(files.map((f) => [f.sha256, f]));
  for (const f of bySha.values()) {
    const blob = join(cacheDir, 'blobs', f.sha256);
    if (statSync(blob, { throwIfNoEntry: false })?.size === f.size) continue;
    const partial = join(cacheDir, 'partial', `${f.sha256}.${hostname()}.partial`);
    const url = `${baseUrl.replace(/\/+$/, '')}/${f.sha256}`;
    let last: Error | null = null;
    for (
      let attempt = 1;
      attempt <= ATTEMPTS && statSync(blob, { throwIfNoEntry: false })?.size !== f.size;
      attempt++
    ) {
      try {
        // The control plane takes its API key as `Api-Key`, and Bearer too.
        await downloadResumable(url, partial, {
          file: f.path,
          expectedSize: f.size,
          token: apiKey ?? null,
          stallMs: 60_000,
        });
        const sha = await sha256Of(partial);
        if (sha !== f.sha256) {
          rmSync(partial, { force: true });
          throw new Error(`${f.path}: ${url}: its sha256 is ${sha}`);
        }
        chmodSync(partial, 0o444);
        renameSync(partial, blob);
        fetched++;
        last = null;
      } catch (err) {
        last = err as Error;
      }
    }
    // Another pod may have put the file in place while this one failed: only a missing one fails.
    if (last && statSync(blob, { throwIfNoEntry: false })?.size !== f.size) throw last;
  }
  for (const f of files) placeFile(appDir, f.path, join(cacheDir, 'blobs', f.sha256), 'symlink');
  log(`weights: ${files.length} files in place, ${fetched} fetched into ${cacheDir}`);
}

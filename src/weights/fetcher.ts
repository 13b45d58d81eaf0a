// The build step that makes a config's weights and data present in an app dir: each item's file
// list (the hub's listing at the resolved commit, one URL, or a local directory), each file had in
// the shared cache (fetched once), then linked where Truss puts it; progress goes to the build log
// at a bounded rate. The hub token comes from a secret (hf_access_token unless the item names
// another) and is never logged.
import { readdirSync, realpathSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, posix, sep } from 'node:path';
import type { ModelConfig } from '../config/schema.ts';
import type { CacheEntry, FileSpec, WeightsCache } from './cache.ts';
import { HubClient, MAX_LISTED_FILES } from './hub.ts';
import type { HubFile } from './hub.ts';
import { insideApp, placeFile, writeManifest } from './place.ts';
import type { PlacedFile } from './place.ts';
import { planWeights, wanted } from './plan.ts';
import type { WeightsItem } from './plan.ts';

export type LogLine = (line: string, level?: 'INFO' | 'WARNING' | 'ERROR') => void;

export interface WeightsFetcherOptions {
  cache: WeightsCache;
  /** The hub (`HF_ENDPOINT`). */
  hfEndpoint: string;
  /** A secret's value, by name (undefined when there is none). */
  secret: (name: string) => string | undefined;
  /** Directories a local `source` may read from (none: local sources are refused). */
  localRoots?: string[];
  /** Files fetched at once within one item. */
  concurrency?: number;
  /** At most one progress line per item this often. */
  progressIntervalMs?: number;
}

/** One file of an item: where it comes from and where it goes in the app dir. */
interface Wanted {
  spec: Omit<FileSpec, 'token'>;
  dest: string;
}

const COMMIT = /^[0-9a-f]{40}$/;

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export class WeightsFetcher {
  private readonly concurrency: number;
  private readonly progressMs: number;

  constructor(private readonly options: WeightsFetcherOptions) {
    this.concurrency = options.concurrency ?? 4;
    this.progressMs = options.progressIntervalMs ?? 2000;
  }

  /** Whether a config asks for anything (so a build without weights does no work here). */
  static wants(config: ModelConfig): boolean {
    return (
      (config.weights?.length ?? 0) +
        (config.model_cache?.length ?? 0) +
        (config.external_data?.length ?? 0) >
      0
    );
  }

  /** Makes every item's files present in `appDir`; throws naming the item, file, URL and status. */
  async fetch(appDir: string, config: ModelConfig, log: LogLine): Promise<void> {
    if (!WeightsFetcher.wants(config)) return;
    const plan = planWeights(config);
    for (const w of plan.warnings) log(w, 'WARNING');
    const placed: PlacedFile[] = [];
    for (const item of plan.items) placed.push(...(await this.fetchItem(appDir, item, log)));
    writeManifest(appDir, placed);
  }

  private async fetchItem(appDir: string, item: WeightsItem, log: LogLine): Promise<PlacedFile[]> {
    const token = item.secretName ? (this.options.secret(item.secretName) ?? null) : null;
    const files = await this.list(appDir, item, token);
    const total = files.reduce((n, f) => n + (f.spec.expectedSize ?? 0), 0);
    let done = 0;
    let bytes = 0;
    let fetched = 0;
    let lastLogMs = 0;
    const progress = (force = false): void => {
      const now = Date.now();
      if (!force && now - lastLogMs < this.progressMs) return;
      lastLogMs = now;
      log(
        `downloading ${item.label}: ${done}/${files.length} files, ${formatBytes(bytes)}${total ? ` of ${formatBytes(total)}` : ''}`,
      );
    };
    progress(true);
    const results: (CacheEntry | undefined)[] = new Array(files.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const i = next++;
        const f = files[i]!;
        const got = await this.options.cache.ensure({ ...f.spec, token }, (n) => {
          bytes += n;
          progress();
        });
        if (got.fetched) fetched++;
        else bytes += got.entry.size;
        results[i] = got.entry;
        done++;
        progress();
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, Math.max(1, files.length)) }, worker));
    const placed = files.map((f, i) => {
      const entry = results[i]!;
      placeFile(appDir, f.dest, this.options.cache.blobPath(entry.sha256));
      return { path: f.dest, sha256: entry.sha256, size: entry.size };
    });
    const size = placed.reduce((n, p) => n + p.size, 0);
    log(
      `${item.label}: ${files.length} file${files.length === 1 ? '' : 's'} (${formatBytes(size)}) in ${item.layout === 'hf-cache' ? `${item.dest}/ (HF_HUB_CACHE)` : item.dest}; ${fetched} downloaded, ${files.length - fetched} from the cache`,
    );
    return placed;
  }

  private async list(appDir: string, item: WeightsItem, token: string | null): Promise<Wanted[]> {
    const source = item.source;
    if (source.kind === 'url')
      return [
        {
          spec: {
            key: `url\n${source.url}`,
            file: item.label,
            url: source.url,
            expectedSize: null,
            expectedSha256: null,
            expectedGitOid: null,
          },
          dest: item.dest,
        },
      ];
    if (source.kind === 'local') return this.listLocal(item, source.path);
    const hub = new HubClient(this.options.hfEndpoint, token);
    const commit = COMMIT.test(source.revision)
      ? source.revision
      : await hub.resolveRevision(source.repo, source.revision);
    const noteKey = `hf-listing\n${hub.endpoint}\n${source.repo}\n${commit}`;
    let listing = this.options.cache.readNote<HubFile[]>(noteKey);
    if (!listing) {
      listing = await hub.listFiles(source.repo, commit);
      this.options.cache.writeNote(noteKey, listing);
    }
    let base = item.dest;
    if (item.layout === 'hf-cache') {
      const repoDir = join(appDir, item.dest, `models--${source.repo.replace('/', '--')}`);
      if (source.revision !== commit) {
        const ref = insideApp(
          appDir,
          posix.join(item.dest, `models--${source.repo.replace('/', '--')}`, 'refs', source.revision),
        );
        mkdirSync(dirname(ref), { recursive: true });
        writeFileSync(ref, commit);
      }
      mkdirSync(repoDir, { recursive: true });
      base = posix.join(item.dest, `models--${source.repo.replace('/', '--')}`, 'snapshots', commit);
    }
    return listing
      .filter((f) => wanted(f.path, item.allowPatterns, item.ignorePatterns))
      .map((f) => ({
        spec: {
          key: `hf\n${hub.endpoint}\n${source.repo}\n${commit}\n${f.path}`,
          file: `${item.label}: ${f.path}`,
          url: hub.fileUrl(source.repo, commit, f.path),
          expectedSize: f.size,
          expectedSha256: f.sha256,
          expectedGitOid: f.gitOid,
        },
        dest: posix.join(base, f.path),
      }));
  }

  /** A local file or directory, if it is under one of the allowed roots. */
  private listLocal(item: WeightsItem, path: string): Wanted[] {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      throw new Error(`${item.label}: ${path} does not exist on the server`);
    }
    const roots = (this.options.localRoots ?? []).map((r) => {
      try {
        return realpathSync(r);
      } catch {
        return r;
      }
    });
    if (!roots.some((r) => real === r || real.startsWith(r + sep)))
      throw new Error(
        `${item.label}: local sources are read only from the directories PLINTH_WEIGHTS_LOCAL_DIRS names${roots.length ? ` (${roots.join(', ')})` : ' (none set)'}`,
      );
    const one = (file: string, rel: string): Wanted => {
      const st = statSync(file);
      return {
        spec: {
          key: `local\n${file}\n${st.size}\n${st.mtimeMs}`,
          file: `${item.label}: ${rel}`,
          url: null,
          localPath: file,
          expectedSize: st.size,
          expectedSha256: null,
          expectedGitOid: null,
        },
        dest: posix.join(item.dest, rel),
      };
    };
    if (!statSync(real).isDirectory()) return [one(real, basename(real))];
    const out: Wanted[] = [];
    for (const entry of readdirSync(real, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = join(entry.parentPath, entry.name);
      const rel = file
        .slice(real.length + 1)
        .split(sep)
        .join('/');
      if (!wanted(rel, item.allowPatterns, item.ignorePatterns)) continue;
      out.push(one(file, rel));
      if (out.length > MAX_LISTED_FILES)
        throw new Error(`${item.label}: more than ${MAX_LISTED_FILES} files`);
    }
    return out;
  }
}

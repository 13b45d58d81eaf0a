// A Hugging Face hub client for what a build needs: a revision resolved to its commit, the commit's
// file listing (paths, sizes, the sha256 of LFS files), and each file's download URL. The hub is
// `HF_ENDPOINT` (default https://huggingface.co). Listings are bounded (pages, files, bytes) and
// every path in them is checked: a hostile listing cannot name a file outside its directory.
import { posix } from 'node:path';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
/** The most files one repository listing may hold, and the most bytes one JSON answer may have. */
export const MAX_LISTED_FILES = 100_000;
const MAX_JSON_BYTES = 64 * 1024 * 1024;
const MAX_PAGES = 1000;
const REQUEST_TIMEOUT_MS = 60_000;

export interface HubFile {
  path: string;
  size: number;
  /** The hex sha256 of the content, where the hub gives one (LFS files). */
  sha256: string | null;
  /** The git blob id (sha1 of `blob <size>\0<content>`) of a file kept in git itself. */
  gitOid: string | null;
}

export class HubError extends Error {}

/** A repository path from a listing, if it stays inside its directory. */
export function safeRepoPath(path: unknown): string | null {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4096 || path.includes('\0')) return null;
  if (path.includes('\\') || posix.isAbsolute(path)) return null;
  const parts = path.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return null;
  return path;
}

export class HubClient {
  constructor(
    readonly endpoint: string = DEFAULT_HF_ENDPOINT,
    private readonly token: string | null = null,
  ) {
    this.endpoint = endpoint.replace(/\/+$/, '');
  }

  private headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  private async getJson(url: string, what: string): Promise<{ body: unknown; next: string | null }> {
    let res: Response;
    try {
      res = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (err) {
      throw new HubError(`${what}: GET ${url} failed: ${(err as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      const hint =
        res.status === 401 || res.status === 403
          ? ' (a private or gated repository: set the hf_access_token secret, or the one the config names)'
          : res.status === 404
            ? ' (no such repository or revision)'
            : '';
      throw new HubError(`${what}: GET ${url} answered HTTP ${res.status}${hint}`);
    }
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_JSON_BYTES) {
      await res.body?.cancel();
      throw new HubError(`${what}: GET ${url}: the answer is larger than ${MAX_JSON_BYTES} bytes`);
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of res.body ?? []) {
      bytes += (chunk as Uint8Array).length;
      if (bytes > MAX_JSON_BYTES)
        throw new HubError(`${what}: GET ${url}: the answer is larger than ${MAX_JSON_BYTES} bytes`);
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HubError(`${what}: GET ${url} did not answer JSON`);
    }
    const link = res.headers.get('link');
    const next = link ? (/<([^>]+)>;\s*rel="next"/.exec(link)?.[1] ?? null) : null;
    return { body, next: next ? new URL(next, url).href : null };
  }

  private repoUrl(repo: string): string {
    return repo.split('/').map(encodeURIComponent).join('/');
  }

  /** The commit a branch, tag or commit names. */
  async resolveRevision(repo: string, revision: string): Promise<string> {
    const url = `${this.endpoint}/api/models/${this.repoUrl(repo)}/revision/${encodeURIComponent(revision)}`;
    const { body } = await this.getJson(url, `hf://${repo}@${revision}`);
    const sha = (body as { sha?: unknown }).sha;
    if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha))
      throw new HubError(`hf://${repo}@${revision}: the hub gave no commit for the revision (GET ${url})`);
    return sha;
  }

  /** Every file of the repository at a commit (the tree listing, page by page). */
  async listFiles(repo: string, commit: string): Promise<HubFile[]> {
    const files: HubFile[] = [];
    let url: string | null =
      `${this.endpoint}/api/models/${this.repoUrl(repo)}/tree/${encodeURIComponent(commit)}?recursive=true`;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const got: { body: unknown; next: string | null } = await this.getJson(url, `hf://${repo}@${commit}`);
      if (!Array.isArray(got.body))
        throw new HubError(`hf://${repo}@${commit}: the tree listing is not a list (GET ${url})`);
      for (const entry of got.body as Record<string, unknown>[]) {
        if (entry?.type !== 'file') continue;
        const path = safeRepoPath(entry.path);
        if (!path)
          throw new HubError(
            `hf://${repo}@${commit}: the listing names a file outside the repository: ${JSON.stringify(entry.path)?.slice(0, 200)}`,
          );
        const lfs = entry.lfs as { oid?: unknown; size?: unknown } | undefined;
        const size = Number(lfs?.size ?? entry.size);
        if (!Number.isSafeInteger(size) || size < 0)
          throw new HubError(`hf://${repo}@${commit}: ${path} has no size in the listing`);
        const lfsOid = typeof lfs?.oid === 'string' ? lfs.oid.replace(/^sha256:/, '') : null;
        files.push({
          path,
          size,
          sha256: lfsOid && /^[0-9a-f]{64}$/.test(lfsOid) ? lfsOid : null,
          gitOid:
            !lfs && typeof entry.oid === 'string' && /^[0-9a-f]{40}$/.test(entry.oid) ? entry.oid : null,
        });
        if (files.length > MAX_LISTED_FILES)
          throw new HubError(
            `hf://${repo}@${commit}: more than ${MAX_LISTED_FILES} files; narrow it with allow_patterns`,
          );
      }
      url = got.next;
    }
    if (url) throw new HubError(`hf://${repo}@${commit}: the listing has more than ${MAX_PAGES} pages`);
    return files;
  }

  fileUrl(repo: string, commit: string, path: string): string {
    return `${this.endpoint}/${this.repoUrl(repo)}/resolve/${encodeURIComponent(commit)}/${path
      .split('/')
      .map(encodeURIComponent)
      .join('/')}`;
  }
}

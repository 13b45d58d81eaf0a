// A fake Hugging Face hub speaking the file API a build uses: `GET /api/models/{repo}/revision/{rev}`,
// `GET /api/models/{repo}/tree/{rev}?recursive=true`, `GET|HEAD /{repo}/resolve/{rev}/{path}` (with
// Range, X-Repo-Commit, ETag, and for LFS files X-Linked-Etag / X-Linked-Size and a redirect to a
// "CDN" path, as the real hub does). Private repositories answer 401 without the token. It counts
// downloads per file, can cut one response off mid-body, and can list a hostile path. Test support:
// never imported by src/.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  files: Record<string, string | Buffer>;
  private?: boolean;
  /** Paths kept in LFS (their listing has `lfs.oid`, their download redirects). Default: none. */
  lfs?: string[];
  /** Extra tree entries listed as they are (a hostile listing). */
  extraListing?: Record<string, unknown>[];
  /** Paths listed but answering 404 to a download. */
  missing?: string[];
}

export interface Download {
  repo: string;
  path: string;
  range: string | null;
  authorization: string | null;
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  /** Every GET of a file's content (resolve or CDN), in order. */
  readonly downloads: Download[] = [];
  readonly token = 'hf_fake_token_123456';
  private readonly cuts = new Map<string, number>();
  private readonly holds = new Map<string, Promise<void>>();
  private server!: Server;
  url = '';

  static async start(): Promise<FakeHub> {
    const hub = new FakeHub();
    hub.server = createServer((req, res) => hub.handle(req, res));
    await new Promise<void>((r) => hub.server.listen(0, '127.0.0.1', r));
    hub.url = `http://127.0.0.1:${(hub.server.address() as AddressInfo).port}`;
    return hub;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  add(repo: string, def: FakeRepo): void {
    this.repos.set(repo, def);
  }

  /** The commit every revision of a repository resolves to. */
  commit(repo: string): string {
    const def = this.repos.get(repo)!;
    return createHash('sha1')
      .update(repo + JSON.stringify(Object.keys(def.files)))
      .digest('hex');
  }

  /** The next download of this file sends `bytes` bytes, then the connection is cut. */
  cutOnce(repo: string, path: string, bytes: number): void {
    this.cuts.set(`${repo}/${path}`, bytes);
  }

  /** Downloads of this file send half their body, then wait until the returned function is called. */
  hold(repo: string, path: string): () => void {
    let release!: () => void;
    this.holds.set(`${repo}/${path}`, new Promise<void>((r) => (release = r)));
    return () => {
      this.holds.delete(`${repo}/${path}`);
      release();
    };
  }

  downloadsOf(repo: string, path: string): Download[] {
    return this.downloads.filter((d) => d.repo === repo && d.path === path);
  }

  private content(repo: string, path: string): Buffer | null {
    const v = this.repos.get(repo)?.files[path];
    return v === undefined ? null : Buffer.from(v);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (parts[0] === 'cdn') return this.serveFile(req, res, parts[1]!, parts.slice(2).join('/'), parts[1]!);
    const api = parts[0] === 'api' && parts[1] === 'models';
    const repo = api ? `${parts[2]}/${parts[3]}` : `${parts[0]}/${parts[1]}`;
    const def = this.repos.get(repo);
    if (!def) return send(404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    if (def.private && req.headers.authorization !== `Bearer ${this.token}`)
      return send(401, { error: 'Invalid credentials' });
    const commit = this.commit(repo);
    if (api && parts[4] === 'revision') {
      return send(200, {
        id: repo,
        sha: commit,
        siblings: Object.keys(def.files).map((rfilename) => ({ rfilename })),
      });
    }
    if (api && parts[4] === 'tree') {
      const listing: Record<string, unknown>[] = Object.entries(def.files).map(([path, v]) => {
        const buf = Buffer.from(v);
        const gitOid = createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
        return def.lfs?.includes(path)
          ? {
              type: 'file',
              path,
              size: buf.length,
              oid: gitOid,
              lfs: { oid: sha256(buf), size: buf.length, pointerSize: 130 },
            }
          : { type: 'file', path, size: buf.length, oid: gitOid };
      });
      return send(200, [...listing, ...(def.extraListing ?? [])]);
    }
    if (!api && parts[2] === 'resolve') {
      const path = parts.slice(4).join('/');
      const buf = this.content(repo, path);
      if (!buf || def.missing?.includes(path))
        return send(404, { error: `Entry not found` }, { 'x-error-code': 'EntryNotFound' });
      const headers: Record<string, string> = { 'x-repo-commit': commit };
      if (def.lfs?.includes(path)) {
        const sha = sha256(buf);
        res.writeHead(302, {
          ...headers,
          location: `/cdn/${repo}/${path}`,
          'x-linked-etag': `"${sha}"`,
          'x-linked-size': String(buf.length),
          etag: `"${sha}"`,
        });
        return void res.end();
      }
      return this.serveFile(req, res, repo.split('/')[0]!, `${repo.split('/')[1]}/${path}`, null, headers);
    }
    send(404, { error: 'not found' });
  }

  /** `org` and `rest` = `name/path`. */
  private serveFile(
    req: IncomingMessage,
    res: ServerResponse,
    org: string,
    rest: string,
    _cdn: string | null,
    headers: Record<string, string> = {},
  ): void {
    const [name, ...pathParts] = rest.split('/');
    const repo = `${org}/${name}`;
    const path = pathParts.join('/');
    const buf = this.content(repo, path);
    if (!buf) {
      res.writeHead(404);
      return void res.end();
    }
    const range = req.headers.range ?? null;
    if (req.method === 'GET')
      this.downloads.push({ repo, path, range, authorization: req.headers.authorization ?? null });
    let start = 0;
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m) start = Number(m[1]);
    if (start >= buf.length && m) {
      res.writeHead(416, { 'content-range': `bytes */${buf.length}` });
      return void res.end();
    }
    const body = buf.subarray(start);
    res.writeHead(m ? 206 : 200, {
      ...headers,
      'content-length': String(body.length),
      'accept-ranges': 'bytes',
      ...(m ? { 'content-range': `bytes ${start}-${buf.length - 1}/${buf.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    const cut = this.cuts.get(`${repo}/${path}`);
    if (cut !== undefined) {
      this.cuts.delete(`${repo}/${path}`);
      res.write(body.subarray(0, cut), () => res.destroy());
      return;
    }
    const held = this.holds.get(`${repo}/${path}`);
    if (held) {
      const half = Math.floor(body.length / 2);
      res.write(body.subarray(0, half));
      void held.then(() => res.end(body.subarray(half)));
      return;
    }
    res.end(body);
  }
}

export function sha256(buf: Buffer | string): string {
  return createHash('sha256').update(buf).digest('hex');
}

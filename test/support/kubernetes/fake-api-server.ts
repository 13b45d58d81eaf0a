// An in-repo stand-in for the Kubernetes API server, for tests: no cluster runs on these machines.
// It serves discovery, apps/v1 Deployments and v1 Pods, Secrets and Nodes (list, get, create,
// replace, merge-patch, delete, and watch as a stream of JSON events) closely enough that the real
// `kubectl --server=…` lists and applies against it — which is the check that it speaks Kubernetes.
// Controllers (fake-cluster.ts) and a kubelet (fake-kubelet.ts) work through `subscribe`/`put`/
// `remove`, as the real ones work through the API; a pod's deletion waits for its kubelet.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown>;
  [k: string]: unknown;
};

interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  singular: string;
  kind: string;
  shortNames: string[];
  namespaced: boolean;
}

const TYPES: ResourceType[] = [
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    shortNames: ['po'],
    namespaced: true,
  },
  {
    group: '',
    version: 'v1',
    plural: 'secrets',
    singular: 'secret',
    kind: 'Secret',
    shortNames: [],
    namespaced: true,
  },
  {
    group: '',
    version: 'v1',
    plural: 'nodes',
    singular: 'node',
    kind: 'Node',
    shortNames: ['no'],
    namespaced: false,
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    shortNames: ['deploy'],
    namespaced: true,
  },
];
const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Obj };
export type ChangeListener = (plural: string, event: WatchEvent) => void;

const NOT_NAMESPACED = '';

export class FakeKubernetes {
  private readonly objects = new Map<string, Obj>(); // `${plural}/${namespace}/${name}`
  private readonly watchers = new Set<{ plural: string; namespace: string | null; res: ServerResponse }>();
  /** The latest changes, for a watch that starts from a resourceVersion. */
  private readonly history: {
    version: number;
    type: WatchEvent['type'];
    plural: string;
    namespace: string;
    object: Obj;
  }[] = [];
  private readonly listeners = new Set<ChangeListener>();
  private version = 1;
  private server: Server | null = null;
  private names = 0;
  url = '';
  /** What clients have asked, as RBAC words it: `verb group/resource` ("patch apps/deployments"). */
  readonly requests = new Set<string>();
  /**
   * Who carries out a pod's deletion: given the pod and its grace period, it returns true when it
   * will remove the pod itself once its containers have stopped (a kubelet); else it goes at once.
   */
  podTerminator: ((pod: Obj, graceSeconds: number) => boolean) | null = null;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => this.status(res, 500, 'InternalError', err.message));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** Objects of a type, in one namespace or all. */
  list(plural: string, namespace: string | null = null): Obj[] {
    return [...this.objects.entries()]
      .filter(([key]) => {
        const [p, ns] = key.split('/');
        return p === plural && (namespace === null || ns === namespace);
      })
      .map(([, o]) => o);
  }

  get(plural: string, namespace: string, name: string): Obj | undefined {
    return this.objects.get(`${plural}/${namespace}/${name}`);
  }

  /** Hears every change, as a controller's informer would. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Creates or replaces an object (what controllers write); metadata is kept as the server keeps it. */
  put(plural: string, namespace: string, body: Obj): Obj {
    const type = TYPES.find((t) => t.plural === plural)!;
    const name = (body.metadata?.['name'] as string | undefined) ?? this.generateName(body);
    const previous = this.get(plural, namespace, name) ?? null;
    const saved = this.save(type, namespace, name, body, previous);
    this.notify(previous ? 'MODIFIED' : 'ADDED', plural, namespace, saved);
    return saved;
  }

  /** Removes an object now (a kubelet, once a deleted pod's containers have stopped). */
  remove(plural: string, namespace: string, name: string): void {
    const existing = this.get(plural, namespace, name);
    if (!existing) return;
    this.objects.delete(`${plural}/${namespace}/${name}`);
    this.version++;
    this.notify('DELETED', plural, namespace, {
      ...existing,
      metadata: { ...existing.metadata, resourceVersion: String(this.version) },
    });
  }

  /** Deletes as the API does: a running pod is marked and left to its kubelet; others go at once. */
  delete(plural: string, namespace: string, name: string, graceSeconds: number | null): Obj | undefined {
    const existing = this.get(plural, namespace, name);
    if (!existing) return undefined;
    if (plural === 'pods') {
      const spec = (existing['spec'] ?? {}) as { terminationGracePeriodSeconds?: number };
      const grace = graceSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
      const meta = existing.metadata as { deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
      // A second deletion may shorten the grace period, never lengthen it.
      if (meta.deletionTimestamp && (meta.deletionGracePeriodSeconds ?? 0) <= grace) return existing;
      if (grace > 0 && this.podTerminator?.(existing, grace)) {
        return this.put('pods', namespace, {
          ...existing,
          metadata: {
            ...existing.metadata,
            deletionTimestamp: meta.deletionTimestamp ?? timestamp(),
            deletionGracePeriodSeconds: grace,
          },
        });
      }
    }
    this.remove(plural, namespace, name);
    return existing;
  }

  private generateName(body: Obj): string {
    const prefix = (body.metadata?.['generateName'] as string | undefined) ?? 'object-';
    return `${prefix}${(++this.names).toString(36).padStart(5, '0')}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname.replace(/\/$/, '');
    if (path === '/version')
      return this.json(res, 200, {
        major: '1',
        minor: '30',
        gitVersion: 'v1.30.0-plinth-fake',
        platform: 'linux/amd64',
      });
    if (path === '/api')
      return this.json(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: new URL(this.url).host }],
      });
    if (path === '/apis') {
      return this.json(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [
          {
            name: 'apps',
            versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
            preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
          },
        ],
      });
    }
    if (path === '/api/v1' || path === '/apis/apps/v1') {
      const group = path === '/api/v1' ? '' : 'apps';
      return this.json(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: group ? `${group}/v1` : 'v1',
        resources: TYPES.filter((t) => t.group === group).map((t) => ({
          name: t.plural,
          singularName: t.singular,
          namespaced: t.namespaced,
          kind: t.kind,
          verbs: VERBS,
          shortNames: t.shortNames,
        })),
      });
    }
    const log = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(path);
    if (log && req.method === 'GET') {
      this.requests.add('get /pods/log');
      return this.podLog(res, log[1]!, decodeURIComponent(log[2]!), url);
    }
    const m = /^\/(?:api\/v1|apis\/apps\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/.exec(path);
    const type =
      m && TYPES.find((t) => t.plural === m[2] && path.startsWith(t.group ? '/apis/apps/v1' : '/api/v1'));
    if (!m || !type)
      return this.status(res, 404, 'NotFound', `the server could not find the requested resource (${path})`);
    const namespace = type.namespaced ? (m[1] ?? null) : NOT_NAMESPACED;
    const name = m[3] ? decodeURIComponent(m[3]) : null;
    const method = req.method ?? 'GET';
    const watching = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const verb =
      method === 'GET'
        ? name
          ? 'get'
          : watching
            ? 'watch'
            : 'list'
        : ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[
            method
          ];
    this.requests.add(`${verb ?? method} ${type.group}/${type.plural}`);

    if (name === null) {
      if (method === 'GET' && watching) {
        return this.watch(res, type.plural, namespace, url.searchParams.get('resourceVersion'));
      }
      if (method === 'GET') {
        return this.json(res, 200, {
          kind: `${type.kind}List`,
          apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
          metadata: { resourceVersion: String(this.version) },
          items: this.list(type.plural, namespace).filter((o) =>
            matchesLabels(o, url.searchParams.get('labelSelector')),
          ),
        });
      }
      if (method === 'POST' && namespace !== null) {
        const body = (await readJson(req)) as Obj;
        const n = (body.metadata?.['name'] as string | undefined) ?? '';
        if (!n && !body.metadata?.['generateName'])
          return this.status(res, 422, 'Invalid', `${type.kind} has no metadata.name`);
        if (n && this.objects.has(`${type.plural}/${namespace}/${n}`))
          return this.status(res, 409, 'AlreadyExists', `${type.plural} "${n}" already exists`, n, type);
        return this.json(res, 201, this.put(type.plural, namespace, body));
      }
      return this.status(res, 405, 'MethodNotAllowed', `${method} is not allowed here`);
    }
    if (namespace === null) return this.status(res, 404, 'NotFound', 'namespaced resources need a namespace');
    const existing = this.get(type.plural, namespace, name);
    const notFound = (): void =>
      this.status(
        res,
        404,
        'NotFound',
        `${type.plural}.${type.group || 'core'} "${name}" not found`,
        name,
        type,
      );
    if (!existing) return notFound();
    if (method === 'GET') return this.json(res, 200, existing);
    if (method === 'DELETE') {
      const body = (await readJson(req)) as { gracePeriodSeconds?: number };
      const query = url.searchParams.get('gracePeriodSeconds');
      this.delete(
        type.plural,
        namespace,
        name,
        query !== null ? Number(query) : (body.gracePeriodSeconds ?? null),
      );
      return this.json(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Success',
        details: { name, kind: type.plural },
      });
    }
    if (method === 'PUT' || method === 'PATCH') {
      const body = (await readJson(req)) as Obj;
      // Merge and strategic-merge patches are both applied as a JSON merge patch (RFC 7386):
      // enough for the objects Plinth and its tests write.
      const next = method === 'PUT' ? body : (mergePatch(existing, body) as Obj);
      return this.json(
        res,
        200,
        this.put(type.plural, namespace, { ...next, metadata: { ...next.metadata, name } }),
      );
    }
    return this.status(res, 405, 'MethodNotAllowed', `${method} is not allowed here`);
  }

  /** Where a container's output is read from, for `pods/{name}/log` (set by the kubelet). */
  logFile: ((namespace: string, pod: string, container: string | null) => string | null) | null = null;

  /** A container's output; with `follow`, streamed as it grows until the pod is gone (sinceTime is ignored). */
  private podLog(res: ServerResponse, namespace: string, name: string, url: URL): void {
    const file = this.get('pods', namespace, name)
      ? this.logFile?.(namespace, name, url.searchParams.get('container'))
      : null;
    if (!file) return this.status(res, 404, 'NotFound', `pods "${name}" not found or has no output`);
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    if (url.searchParams.get('follow') !== 'true') return void res.end(readFileOr(file));
    res.flushHeaders();
    let offset = 0;
    const pump = (): void => {
      const text = readBytesFrom(file, offset);
      if (text.length) {
        offset += text.length;
        res.write(text);
      }
    };
    const timer = setInterval(() => {
      pump();
      if (!this.get('pods', namespace, name)) {
        clearInterval(timer);
        res.end();
      }
    }, 100);
    res.on('close', () => clearInterval(timer));
    pump();
  }

  private save(type: ResourceType, namespace: string, name: string, body: Obj, previous: Obj | null): Obj {
    this.version++;
    const before = (previous?.metadata ?? {}) as Record<string, unknown>;
    const specChanged =
      previous !== null && JSON.stringify(previous['spec']) !== JSON.stringify(body['spec']);
    const obj: Obj = {
      ...body,
      apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
      kind: type.kind,
      metadata: {
        ...(body.metadata ?? {}),
        name,
        ...(type.namespaced ? { namespace } : {}),
        uid: before['uid'] ?? randomUUID(),
        creationTimestamp: before['creationTimestamp'] ?? timestamp(),
        resourceVersion: String(this.version),
        generation:
          ((before['generation'] as number | undefined) ?? 0) + (previous === null || specChanged ? 1 : 0),
      },
    };
    this.objects.set(`${type.plural}/${namespace}/${name}`, obj);
    return obj;
  }

  /** Changes an object's status (what a controller or kubelet would), announcing it to watchers. */
  setStatus(plural: string, namespace: string, name: string, status: unknown): void {
    const obj = this.get(plural, namespace, name);
    if (!obj) throw new Error(`no ${plural} ${namespace}/${name}`);
    this.version++;
    obj['status'] = status;
    obj.metadata = { ...obj.metadata, resourceVersion: String(this.version) };
    this.notify('MODIFIED', plural, namespace, obj);
  }

  private watch(res: ServerResponse, plural: string, namespace: string | null, since: string | null): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    // Without a resourceVersion a watch starts with every object as ADDED, as Kubernetes does;
    // from one, it first replays what happened after it (the history kept here is bounded).
    if (!since || since === '0') {
      for (const object of this.list(plural, namespace))
        res.write(JSON.stringify({ type: 'ADDED', object }) + '\n');
    } else {
      for (const e of this.history) {
        if (
          e.version > Number(since) &&
          e.plural === plural &&
          (namespace === null || e.namespace === namespace)
        )
          res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
      }
    }
    const watcher = { plural, namespace, res };
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }

  private notify(type: WatchEvent['type'], plural: string, namespace: string, object: Obj): void {
    this.history.push({ version: this.version, type, plural, namespace, object: structuredClone(object) });
    if (this.history.length > 1000) this.history.shift();
    for (const w of this.watchers) {
      if (w.plural === plural && (w.namespace === null || w.namespace === namespace))
        w.res.write(JSON.stringify({ type, object }) + '\n');
    }
    for (const listener of this.listeners) listener(plural, { type, object });
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private status(
    res: ServerResponse,
    code: number,
    reason: string,
    message: string,
    name?: string,
    type?: ResourceType,
  ): void {
    this.json(res, code, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(name && type ? { details: { name, group: type.group, kind: type.plural } } : {}),
      code,
    });
  }
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function readBytesFrom(file: string, offset: number): Buffer {
  try {
    return readFileSync(file).subarray(offset);
  } catch {
    return Buffer.alloc(0);
  }
}

function readFileOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function matchesLabels(o: Obj, selector: string | null): boolean {
  if (!selector) return true;
  const labels = (o.metadata?.['labels'] ?? {}) as Record<string, string>;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return v === undefined ? k! in labels : labels[k!] === v;
  });
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

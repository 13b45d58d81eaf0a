// An in-repo stand-in for the Kubernetes API server, for tests: no cluster runs on these machines.
// It serves discovery, apps/v1 Deployments and v1 Pods (list, get, create, replace, merge-patch,
// delete, and watch as a stream of JSON events) closely enough that the real `kubectl --server=…`
// lists and applies against it — which is the check that it speaks Kubernetes.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

type Obj = { apiVersion?: string; kind?: string; metadata?: Record<string, unknown>; [k: string]: unknown };

interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  singular: string;
  kind: string;
  shortNames: string[];
}

const TYPES: ResourceType[] = [
  { group: '', version: 'v1', plural: 'pods', singular: 'pod', kind: 'Pod', shortNames: ['po'] },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    shortNames: ['deploy'],
  },
];
const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Obj };

export class FakeKubernetes {
  private readonly objects = new Map<string, Obj>(); // `${plural}/${namespace}/${name}`
  private readonly watchers = new Set<{ plural: string; namespace: string | null; res: ServerResponse }>();
  private version = 1;
  private server: Server | null = null;
  url = '';

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
      .filter(
        ([key]) =>
          key.startsWith(`${plural}/${namespace ?? ''}`) &&
          (namespace === null || key.split('/')[1] === namespace),
      )
      .map(([, o]) => o);
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
          namespaced: true,
          kind: t.kind,
          verbs: VERBS,
          shortNames: t.shortNames,
        })),
      });
    }
    const m = /^\/(?:api\/v1|apis\/apps\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/.exec(path);
    const type =
      m && TYPES.find((t) => t.plural === m[2] && path.startsWith(t.group ? '/apis/apps/v1' : '/api/v1'));
    if (!m || !type)
      return this.status(res, 404, 'NotFound', `the server could not find the requested resource (${path})`);
    const namespace = m[1] ?? null;
    const name = m[3] ? decodeURIComponent(m[3]) : null;
    const key = (ns: string, n: string): string => `${type.plural}/${ns}/${n}`;
    const method = req.method ?? 'GET';

    if (name === null) {
      if (
        method === 'GET' &&
        (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1')
      ) {
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
      if (method === 'POST' && namespace) {
        const body = (await readJson(req)) as Obj;
        const n = (body.metadata?.name as string | undefined) ?? '';
        if (!n) return this.status(res, 422, 'Invalid', `${type.kind} has no metadata.name`);
        if (this.objects.has(key(namespace, n)))
          return this.status(res, 409, 'AlreadyExists', `${type.plural} "${n}" already exists`, n, type);
        const created = this.save(type, namespace, n, body, null);
        this.notify('ADDED', type.plural, namespace, created);
        return this.json(res, 201, created);
      }
      return this.status(res, 405, 'MethodNotAllowed', `${method} is not allowed here`);
    }
    if (!namespace) return this.status(res, 404, 'NotFound', 'namespaced resources need a namespace');
    const existing = this.objects.get(key(namespace, name));
    if (method === 'GET') {
      return existing
        ? this.json(res, 200, existing)
        : this.status(
            res,
            404,
            'NotFound',
            `${type.plural}.${type.group || 'core'} "${name}" not found`,
            name,
            type,
          );
    }
    if (!existing)
      return this.status(
        res,
        404,
        'NotFound',
        `${type.plural}.${type.group || 'core'} "${name}" not found`,
        name,
        type,
      );
    if (method === 'DELETE') {
      this.objects.delete(key(namespace, name));
      this.version++;
      this.notify('DELETED', type.plural, namespace, existing);
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
      const updated = this.save(type, namespace, name, next, existing);
      this.notify('MODIFIED', type.plural, namespace, updated);
      return this.json(res, 200, updated);
    }
    return this.status(res, 405, 'MethodNotAllowed', `${method} is not allowed here`);
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
        namespace,
        uid: before['uid'] ?? randomUUID(),
        creationTimestamp: before['creationTimestamp'] ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
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
    const obj = this.objects.get(`${plural}/${namespace}/${name}`);
    if (!obj) throw new Error(`no ${plural} ${namespace}/${name}`);
    this.version++;
    obj['status'] = status;
    obj.metadata = { ...obj.metadata, resourceVersion: String(this.version) };
    this.notify('MODIFIED', plural, namespace, obj);
  }

  private watch(res: ServerResponse, plural: string, namespace: string | null, since: string | null): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    // Without a resourceVersion a watch starts with every object as ADDED, as Kubernetes does.
    if (!since || since === '0') {
      for (const object of this.list(plural, namespace))
        res.write(JSON.stringify({ type: 'ADDED', object }) + '\n');
    }
    const watcher = { plural, namespace, res };
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }

  private notify(type: WatchEvent['type'], plural: string, namespace: string, object: Obj): void {
    for (const w of this.watchers) {
      if (w.plural === plural && (w.namespace === null || w.namespace === namespace))
        w.res.write(JSON.stringify({ type, object }) + '\n');
    }
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

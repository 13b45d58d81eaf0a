// WebSocket connections through the gateway: an upgrade on `…/websocket` goes to the model
// server's `/v1/websocket`, one on `…/sync/{path}` to that path of the replica's own server (a
// custom server). Same key check, resolution, wake-up and parking as a request; then the
// connection holds one activator slot for its whole life (it counts as concurrency, so the
// autoscaler sees it) and the two sockets are piped as they are (frames are not parsed). Failures
// before the upgrade are HTTP responses written on the socket. It must never hold a slot past the
// life of either socket, nor leave one socket open when the other has gone.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { canWake } from '../domain/deployment-status.ts';
import { isPlinthError, PlinthError } from '../domain/errors.ts';
import type { Signal } from '../domain/signal.ts';
import type { Deployment, Model, RequestMeasure } from '../domain/types.ts';
import type { Activator, Lease } from './activator.ts';
import { neverReached, replicaUnavailable, writeSocketError } from './failures.ts';
import type { ColdStart } from './gateway.ts';
import { HOP_BY_HOP, REPLICA_TOKEN_HEADER, UpstreamError } from './proxy.ts';
import { isCustomServer, replicaEndpoint, syncPathOf } from './replica-paths.ts';
import type { ResolvedTarget } from './resolver.ts';
import type { InferenceRoute } from './routing.ts';

/** Where a model server takes WebSocket connections (the Python and the Node model server). */
export const REPLICA_WEBSOCKET_PATH = '/v1/websocket';

/** What the upgrade path needs of the gateway. */
export interface UpgradeHost {
  resolve(route: InferenceRoute): ResolvedTarget | Promise<ResolvedTarget>;
  authorize?: (
    authorization: string | undefined,
    client: string,
    model: Model | null,
  ) => Promise<void> | void;
  /** The deployment a new request to `target` goes to (a ramping promotion's split counts). */
  deploymentFor(target: ResolvedTarget): Deployment;
  /** Why the deployment cannot answer (failed, inactive), or null. */
  failureOf(d: Deployment): PlinthError | null;
  activatorFor(d: Deployment): Activator;
  /** Leaves a replica whose connection was refused out for a moment. */
  setAside(deploymentId: string, activator: Activator, replicaId: string): void;
  wakes: Signal<string>;
  coldStarts: Signal<ColdStart>;
  queued: Signal<string>;
  requests: Signal<RequestMeasure>;
}

export interface UpgradeOptions {
  /**
   * How long an open connection may carry no byte either way before the gateway closes it, when
   * the deployment's `runtime.transport` sets no ping seconds (with them: twice their sum).
   */
  idleTimeoutMs: number;
  /** How long connecting to the replica and its answer to the handshake may take. */
  handshakeTimeoutMs: number;
}

/** Headers that stay on the client's hop (Upgrade, Connection and Sec-WebSocket-* go on). */
const NOT_FORWARDED = new Set([
  ...[...HOP_BY_HOP].filter((h) => h !== 'connection' && h !== 'upgrade'),
  'authorization',
  'content-length',
  REPLICA_TOKEN_HEADER,
  'x-plinth-internal',
]);
const NOT_RELAYED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'x-request-id']);
const MAX_ATTEMPTS = 3;
/** What a client may send before its upgrade is answered. */
const MAX_EARLY_BYTES = 64 * 1024;

/** Whether a request asks to become a WebSocket (other upgrades, h2c say, are plain requests here). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.method === 'GET' && String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** The idle bound of a deployment's connections: from its transport's ping seconds, else `fallbackMs`. */
export function idleTimeoutMs(config: unknown, fallbackMs: number): number {
  type Transport = {
    kind?: string;
    ping_interval_seconds?: number | null;
    ping_timeout_seconds?: number | null;
  };
  const t = (config as { runtime?: { transport?: Transport } } | null)?.runtime?.transport;
  if (t?.kind !== 'websocket' || (t.ping_interval_seconds == null && t.ping_timeout_seconds == null))
    return fallbackMs;
  // A live connection carries a ping and its pong at least this often: twice it is surely dead.
  return Math.round(2 * ((t.ping_interval_seconds ?? 20) + (t.ping_timeout_seconds ?? 20)) * 1000);
}

/** A replica address as node:http's request options name it. */
function endpointOf(address: string): { socketPath: string } | { host: string; port: number } {
  const endpoint = replicaEndpoint(address);
  return 'path' in endpoint ? { socketPath: endpoint.path } : endpoint;
}

function forwardedHeaders(
  req: IncomingMessage,
  requestId: string,
  token: string | null,
): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (NOT_FORWARDED.has(name)) continue;
    const value = req.rawHeaders[i + 1]!;
    const had = out[name];
    out[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  out.connection = 'Upgrade';
  out['x-request-id'] = requestId;
  if (token) out[REPLICA_TOKEN_HEADER] = token;
  return out;
}

type Handshake =
  | { kind: 'upgraded'; res: IncomingMessage; upstream: Socket; head: Buffer }
  | { kind: 'answered'; res: IncomingMessage; upstream: ClientRequest };

/** Sends the upgrade request to a replica; resolves with its 101 (and socket) or its other answer. */
function handshake(
  address: string,
  path: string,
  headers: OutgoingHttpHeaders,
  client: Duplex,
  timeoutMs: number,
): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const upstream = request({
      ...endpointOf(address),
      path,
      method: 'GET',
      headers,
      agent: false,
      maxHeaderSize: 16 * 1024,
    });
    const timer = setTimeout(() => {
      const err = new PlinthError(
        'GATEWAY_TIMEOUT',
        `the replica did not answer the WebSocket handshake within ${Math.round(timeoutMs / 1000)} s`,
      );
      reject(err);
      upstream.destroy(err);
    }, timeoutMs);
    const onClientGone = (): void => void upstream.destroy(new Error('client went away'));
    client.once('close', onClientGone);
    const settle = (): void => {
      clearTimeout(timer);
      client.off('close', onClientGone);
    };
    upstream.once('upgrade', (res, socket, head) => {
      settle();
      resolve({ kind: 'upgraded', res, upstream: socket, head });
    });
    upstream.once('response', (res) => {
      settle();
      resolve({ kind: 'answered', res, upstream });
    });
    upstream.on('error', (err) => {
      settle();
      reject(isPlinthError(err) ? err : new UpstreamError(err, false));
    });
    upstream.end();
  });
}

/** A response head as raw HTTP/1.1, headers relayed but for this hop's own. */
function responseHead(res: IncomingMessage, extra: string[]): string {
  const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}`];
  const upgraded = res.statusCode === 101;
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    const name = res.rawHeaders[i]!;
    if (!upgraded && NOT_RELAYED.has(name.toLowerCase())) continue;
    if (upgraded && name.toLowerCase() === 'x-request-id') continue;
    lines.push(`${name}: ${res.rawHeaders[i + 1]}`);
  }
  return [...lines, ...extra].join('\r\n') + '\r\n\r\n';
}

/** Pipes the two sockets both ways until either closes, errs or idles; then both go and `done` runs once. */
function pipeBoth(client: Duplex, upstream: Socket, idleMs: number, done: () => void): void {
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    client.destroy();
    upstream.destroy();
    done();
  };
  upstream.setNoDelay(true);
  (client as Socket).setNoDelay?.(true);
  for (const s of [client, upstream] as (Duplex & Partial<Pick<Socket, 'setTimeout'>>)[]) {
    s.on('error', end);
    s.on('close', end);
    // Any byte either way passes both sockets: either one idle means both are.
    s.setTimeout?.(idleMs, end);
  }
  client.pipe(upstream);
  upstream.pipe(client);
}

/**
 * Serves one upgrade request taken off the node:http server. Never throws: every failure is
 * answered on the socket (or, when the client has gone, dropped).
 */
export async function proxyUpgrade(
  host: UpgradeHost,
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  route: InferenceRoute,
  options: UpgradeOptions,
): Promise<void> {
  const incomingId = req.headers['x-request-id'];
  const requestId = typeof incomingId === 'string' && incomingId.length <= 200 ? incomingId : randomUUID();
  const arrivedAt = performance.now();
  let clientGone = false;
  client.on('error', () => undefined);
  client.once('close', () => (clientGone = true));
  // The socket is read while the connection waits (else a client that leaves is never noticed);
  // whatever it sends before the upgrade (a WebSocket client sends nothing) is kept, up to a bound.
  const early: Buffer[] = head.length > 0 ? [head] : [];
  let earlyBytes = head.length;
  const onEarly = (chunk: Buffer): void => {
    earlyBytes += chunk.length;
    if (earlyBytes > MAX_EARLY_BYTES) client.destroy();
    else early.push(chunk);
  };
  client.on('data', onEarly);
  // Its socket allows half-open connections: a client that ends its side before the upgrade has gone.
  const onEarlyEnd = (): void => void client.destroy();
  client.once('end', onEarlyEnd);
  let lease: Lease | undefined;
  let measured: { target: ResolvedTarget; deployment: Deployment } | undefined;
  let queueS = 0;
  const measure = (status: number): void => {
    if (!measured) return;
    const s = (performance.now() - arrivedAt) / 1000;
    host.requests.emit({
      model: measured.target.model,
      deployment: measured.deployment,
      environment: measured.target.environment,
      status,
      // A connection is measured by its handshake: its life is the model's business.
      e2eS: s,
      ttfbS: s,
      queueS,
      requestBytes: 0,
      responseBytes: 0,
    });
  };
  try {
    if (route.action !== 'websocket' && route.action !== 'sync') {
      throw new PlinthError(
        'BAD_REQUEST',
        `WebSocket connections are made to …/websocket (or a custom server's …/sync/{path}), not …/${route.action}`,
      );
    }
    const resolving = host.resolve(route);
    let target: ResolvedTarget;
    try {
      target = resolving instanceof Promise ? await resolving : resolving;
    } catch (err) {
      // Whether a model or deployment exists is for callers with a key to learn.
      const model = isPlinthError(err) ? ((err.details?.model as Model | undefined) ?? null) : null;
      await host.authorize?.(req.headers.authorization, req.socket.remoteAddress ?? '', model);
      throw err;
    }
    if (!target.public)
      await host.authorize?.(req.headers.authorization, req.socket.remoteAddress ?? '', target.model);
    const deployment = host.deploymentFor(target);
    measured = { target, deployment };
    const failure = host.failureOf(deployment);
    if (failure) throw failure;
    if (route.action === 'websocket' && isCustomServer(deployment)) {
      throw new PlinthError(
        'NOT_FOUND',
        `deployment ${deployment.name} is a custom server: it takes WebSockets at its own paths, through …/sync/{path}`,
      );
    }
    const q = (req.url ?? '').indexOf('?');
    const path =
      route.action === 'sync'
        ? syncPathOf(deployment, route.path!)
        : REPLICA_WEBSOCKET_PATH + (q === -1 ? '' : req.url!.slice(q));
    const activator = host.activatorFor(deployment);
    if (activator.readyCount === 0 && canWake(deployment.status)) {
      host.wakes.emit(deployment.id);
      host.coldStarts.emit({ model: target.model, deployment, environment: target.environment });
    }
    for (let attempt = 1; ; attempt++) {
      if (clientGone) return;
      const acquired = activator.acquire();
      if (acquired instanceof Promise) {
        host.queued.emit(deployment.id);
        const queuedAt = performance.now();
        const onGone = (): void => activator.cancel(acquired);
        client.once('close', onGone);
        try {
          lease = await acquired;
        } finally {
          client.off('close', onGone);
        }
        queueS += (performance.now() - queuedAt) / 1000;
      } else lease = acquired;
      if (clientGone) return;
      let shook: Handshake;
      try {
        const headers = forwardedHeaders(req, requestId, lease.replica.token ?? null);
        shook = await handshake(lease.replica.address, path, headers, client, options.handshakeTimeoutMs);
      } catch (err) {
        if (clientGone || !(err instanceof UpstreamError)) throw err;
        host.setAside(deployment.id, activator, lease.replica.id);
        lease.release();
        lease = undefined;
        if (!neverReached(err) || attempt >= MAX_ATTEMPTS) throw replicaUnavailable(err);
        continue;
      }
      const held = lease;
      lease = undefined;
      if (shook.kind === 'answered') {
        // Not upgraded (a 401, a 404 for a model without websocket()): relayed, then closed.
        const { res, upstream } = shook;
        client.write(responseHead(res, [`x-request-id: ${requestId}`, 'connection: close']));
        res.pipe(client);
        const finish = (): void => {
          held.release();
          upstream.destroy();
          client.end();
        };
        res.once('end', finish);
        res.once('error', finish);
        client.once('close', finish);
        measure(res.statusCode ?? 502);
        return;
      }
      if (clientGone || client.destroyed) {
        shook.upstream.destroy();
        return held.release();
      }
      client.write(responseHead(shook.res, [`x-request-id: ${requestId}`]));
      if (shook.head.length > 0) client.write(shook.head);
      client.pause();
      client.off('data', onEarly);
      client.off('end', onEarlyEnd);
      if (early.length > 0) shook.upstream.write(Buffer.concat(early));
      measure(101);
      pipeBoth(client, shook.upstream, idleTimeoutMs(deployment.config, options.idleTimeoutMs), () =>
        held.release(),
      );
      return;
    }
  } catch (err) {
    if (clientGone || client.destroyed) return;
    writeSocketError(client, err, requestId);
    if (isPlinthError(err)) measure(err.httpStatus);
  } finally {
    // A slot not handed to a connection (the client left while it waited, or it failed) is freed.
    lease?.release();
  }
}

// The data plane's entry: takes inference requests straight off node:http, resolves them to a
// deployment, takes a replica slot from that deployment's activator (parking while replicas
// start), and proxies. No web framework on this path.
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isPlinthError, PlinthError } from '../domain/errors.ts';
import { systemClock } from '../domain/clock.ts';
import { Signal } from '../domain/signal.ts';
import type { Clock } from '../domain/clock.ts';
import { canWake } from '../domain/deployment-status.ts';
import type { Deployment, Model, RequestMeasure } from '../domain/types.ts';
import { Activator } from './activator.ts';
import { neverReached, replicaUnavailable, sendError, statusFailure } from './failures.ts';
import type { Lease } from './activator.ts';
import type { ReadyReplica } from './lb-policy.ts';
import { limitedBody, proxyToReplica, readSmallBody, UpstreamError } from './proxy.ts';
import { ReplicaPools } from './replica-connections.ts';
import type { ProxyOutcome } from './proxy.ts';
import { TargetResolver } from './resolver.ts';
import type { ResolvedTarget, RouteReader } from './resolver.ts';
import { ASYNC_ACTIONS, matchInference } from './routing.ts';
import { TrafficSplit } from './traffic-split.ts';
import { predictPathOf, syncPathOf } from './replica-paths.ts';
import type { InferenceRoute } from './routing.ts';
import { proxyUpgrade } from './websocket-upgrade.ts';
import type { UpgradeHost } from './websocket-upgrade.ts';

export interface GatewayOptions {
  maxQueue?: number;
  parkTimeoutMs?: number;
  /** Largest request body sent on to a model (by its Content-Length, or counted as it streams); larger ones answer 413. */
  maxBodyBytes?: number;
  /** How long a client may leave a response unread before it is cut off and its slot freed. */
  stallTimeoutMs?: number;
  /** How long an open WebSocket may carry nothing before it is closed (its transport's pings can set it). */
  websocketIdleTimeoutMs?: number;
  /** How long a replica may take to connect and answer a WebSocket handshake. */
  websocketHandshakeTimeoutMs?: number;
  /** Host names the host form (`model-{id}.<suffix>`) may end with. */
  hostSuffixes?: readonly string[];
  /**
   * Checks the caller's key for a model (throws UNAUTHENTICATED or FORBIDDEN); not called for a
   * public environment. Without it, every request passes.
   */
  authorize?: (
    authorization: string | undefined,
    client: string,
    model: Model | null,
  ) => Promise<void> | void;
  /** Answers the async routes (src/queue/async-front.ts); without it they are NOT_FOUND. */
  asyncRoutes?: AsyncRoutes;
  /**
   * The token the queue's workers send (`x-plinth-internal`): their requests need no key and wait
   * behind every other request for a slot.
   */
  internalToken?: string;
  clock?: Clock;
}

/** The async routes of a resolved, authorized target (declared here, answered by the queue room). */
export interface AsyncRoutes {
  handle(
    action: 'async_predict' | 'async_request' | 'async_queue_status',
    target: { model: Model; deployment: Deployment; environment: string | null; failure: PlinthError | null },
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    asyncRequestId?: string,
  ): Promise<void>;
}

/** A request that found its deployment at zero replicas and woke it. */
export interface ColdStart {
  model: Model;
  deployment: Deployment;
  environment: string | null;
}

/** Whether a request carries the queue workers' token (compared in constant time). */
function isInternal(sent: string | string[] | undefined, token: string | undefined): boolean {
  if (token === undefined || typeof sent !== 'string' || sent.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(sent), Buffer.from(token));
}

/** How long a replica whose connection failed is left out before it is tried again. */
const SET_ASIDE_MS = 1000;

function predictConcurrency(d: Deployment): number {
  const runtime = (d.config as { runtime?: { predict_concurrency?: number } }).runtime;
  return runtime?.predict_concurrency ?? 1;
}

export class Gateway {
  readonly resolver: TargetResolver;
  /** Each answered inference request, measured (metrics). */
  readonly requests = new Signal<RequestMeasure>();
  /** A deployment at zero needs replicas: a request (or a wake call) arrived for it. */
  readonly wakes = new Signal<string>();
  /** A request found no free slot and queued: the autoscaler may add replicas before its tick. */
  readonly queued = new Signal<string>();
  readonly coldStarts = new Signal<ColdStart>();
  private readonly activators = new Map<string, Activator>();
  private readonly ready = new Map<string, readonly ReadyReplica[]>();
  private readonly failures = new Map<string, PlinthError>();
  private readonly capacities = new Map<string, number>();
  private readonly pools = new ReplicaPools();
  private readonly split = new TrafficSplit();
  private readonly options: Required<Omit<GatewayOptions, 'authorize' | 'asyncRoutes' | 'internalToken'>> &
    Pick<GatewayOptions, 'authorize' | 'asyncRoutes' | 'internalToken'>;

  constructor(store: RouteReader, options: GatewayOptions = {}) {
    this.resolver = new TargetResolver(store);
    this.options = {
      maxQueue: options.maxQueue ?? 1000,
      parkTimeoutMs: options.parkTimeoutMs ?? 600_000,
      maxBodyBytes: options.maxBodyBytes ?? 100 * 1024 ** 2,
      stallTimeoutMs: options.stallTimeoutMs ?? 60_000,
      websocketIdleTimeoutMs: options.websocketIdleTimeoutMs ?? 600_000,
      websocketHandshakeTimeoutMs: options.websocketHandshakeTimeoutMs ?? 30_000,
      hostSuffixes: options.hostSuffixes ?? ['localhost'],
      authorize: options.authorize,
      asyncRoutes: options.asyncRoutes,
      internalToken: options.internalToken,
      clock: options.clock ?? systemClock,
    };
  }

  /** The inference route of a request, or null when it is not an inference request. */
  match(req: IncomingMessage): InferenceRoute | null {
    const url = req.url;
    if (!url || url.startsWith('/v1/')) return null;
    return matchInference(req.headers.host, url, this.options.hostSuffixes);
  }

  /** The ready replicas of a deployment changed (from the runtime backend). */
  setReadyReplicas(deploymentId: string, replicas: readonly ReadyReplica[]): void {
    this.ready.set(deploymentId, replicas);
    this.activators.get(deploymentId)?.setReplicas(replicas, this.capacities.get(deploymentId) ?? 1);
    const inUse = new Set<string>();
    for (const list of this.ready.values()) for (const r of list) inUse.add(r.address);
    this.pools.retain(inUse);
  }

  /**
   * A replica whose connection failed gets no requests for a moment; then, if the backend still
   * lists it ready (a refused or reset connection can be a passing thing), it is used again. A
   * replica that really died leaves the ready list through the backend's own event.
   */
  private setAside(deploymentId: string, activator: Activator, replicaId: string): void {
    activator.markBroken(replicaId);
    this.options.clock.after(SET_ASIDE_MS, () => {
      const ready = this.ready.get(deploymentId) ?? [];
      if (ready.some((r) => r.id === replicaId) && this.activators.get(deploymentId) === activator) {
        activator.setReplicas(ready, this.capacities.get(deploymentId) ?? 1);
      }
    });
  }

  /** A deployment changed status: failed ones release their parked requests with the reason. */
  deploymentChanged(d: Deployment): void {
    this.resolver.invalidate();
    const failure = statusFailure(d);
    if (failure) this.failures.set(d.id, failure);
    else this.failures.delete(d.id);
    const activator = this.activators.get(d.id);
    activator?.fail(failure);
    // Requests still parked on a deployment that just went to zero bring it back.
    if (canWake(d.status) && activator && activator.queued > 0) this.wakes.emit(d.id);
  }

  async handle(req: IncomingMessage, res: ServerResponse, route: InferenceRoute): Promise<void> {
    const incomingId = req.headers['x-request-id'];
    const requestId = typeof incomingId === 'string' && incomingId.length <= 200 ? incomingId : randomUUID();
    let lease: Lease | undefined;
    const arrivedAt = performance.now();
    let measured: { target: ResolvedTarget; deployment: Deployment } | undefined;
    let queueS = 0;
    let requestBytes = 0;
    let outcome: ProxyOutcome | undefined;
    try {
      const resolving = this.resolver.resolve(route);
      let target: ResolvedTarget;
      try {
        target = resolving instanceof Promise ? await resolving : resolving;
      } catch (err) {
        // Whether a model or deployment exists is for callers with a key to learn.
        const model = isPlinthError(err) ? ((err.details?.model as Model | undefined) ?? null) : null;
        await this.options.authorize?.(req.headers.authorization, req.socket.remoteAddress ?? '', model);
        throw err;
      }
      const internal = isInternal(req.headers['x-plinth-internal'], this.options.internalToken);
      if (!target.public && !internal) {
        // A key checked lately answers without a promise (no await, no turn of the event loop).
        const authorizing = this.options.authorize?.(
          req.headers.authorization,
          req.socket.remoteAddress ?? '',
          target.model,
        );
        if (authorizing) await authorizing;
      }
      const deployment = this.deploymentFor(target);
      if (ASYNC_ACTIONS.has(route.action)) {
        if (!this.options.asyncRoutes)
          throw new PlinthError('NOT_FOUND', 'async requests are not served here');
        const failure = this.failures.get(deployment.id) ?? statusFailure(deployment) ?? null;
        await this.options.asyncRoutes.handle(
          route.action as 'async_predict' | 'async_request' | 'async_queue_status',
          { model: target.model, deployment, environment: target.environment, failure },
          req,
          res,
          requestId,
          route.requestId,
        );
        return;
      }
      if (route.action !== 'wake') measured = { target, deployment };
      const failure = this.failures.get(deployment.id) ?? statusFailure(deployment);
      if (failure) throw failure;
      if (route.action === 'wake') {
        if (canWake(deployment.status)) this.wakes.emit(deployment.id);
        req.resume();
        res.writeHead(202, { 'content-type': 'application/json', 'x-request-id': requestId });
        res.end(JSON.stringify({ deployment_id: deployment.id, status: deployment.status }));
        return;
      }
      if (route.action === 'websocket') {
        throw new PlinthError(
          'UPGRADE_REQUIRED',
          '…/websocket takes a WebSocket upgrade (GET with Upgrade: websocket), not a plain request',
        );
      }
      const path = route.action === 'sync' ? syncPathOf(deployment, route.path!) : predictPathOf(deployment);
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > this.options.maxBodyBytes) {
        throw new PlinthError(
          'PAYLOAD_TOO_LARGE',
          `the request body is ${length} bytes; the limit is ${this.options.maxBodyBytes}`,
        );
      }
      const bodyOrPromise = readSmallBody(req);
      const read = bodyOrPromise instanceof Promise ? await bodyOrPromise : bodyOrPromise;
      // A streamed body (chunked, or large) is counted as it goes through.
      const body = read === req ? limitedBody(req, this.options.maxBodyBytes) : (read as Buffer | null);
      requestBytes = Buffer.isBuffer(body) ? body.length : Number(req.headers['content-length'] ?? 0) || 0;
      const activator = this.activatorFor(deployment);
      if (activator.readyCount === 0 && canWake(deployment.status)) {
        this.wakes.emit(deployment.id);
        this.coldStarts.emit({ model: target.model, deployment, environment: target.environment });
      }
      // A replica that refuses the connection never saw the request: try another one.
      for (let attempt = 1; ; attempt++) {
        const acquired = activator.acquire(internal);
        if (acquired instanceof Promise) {
          this.queued.emit(deployment.id);
          const queuedAt = performance.now();
          const onGone = (): void => activator.cancel(acquired);
          res.once('close', onGone);
          lease = await acquired;
          queueS += (performance.now() - queuedAt) / 1000;
          res.off('close', onGone);
          if (res.destroyed) return;
        } else lease = acquired;
        try {
          outcome = await proxyToReplica(this.pools.get(lease.replica.address), req, res, body, {
            requestId,
            path,
            token: lease.replica.token ?? null,
            stallMs: this.options.stallTimeoutMs,
          });
          return;
        } catch (err) {
          if (!(err instanceof UpstreamError)) throw err;
          // The client going away says nothing about the replica.
          if (res.destroyed) return;
          this.setAside(deployment.id, activator, lease.replica.id);
          lease.release();
          lease = undefined;
          const replayable = body === null || Buffer.isBuffer(body);
          if (!replayable || !neverReached(err) || attempt >= MAX_ATTEMPTS) throw err;
        }
      }
    } catch (err) {
      if (res.destroyed) return;
      sendError(res, err instanceof UpstreamError ? replicaUnavailable(err) : err, requestId);
    } finally {
      lease?.release();
      if (measured && (outcome || res.headersSent)) {
        const endedAt = performance.now();
        this.requests.emit({
          model: measured.target.model,
          deployment: measured.deployment,
          environment: measured.target.environment,
          status: outcome?.statusCode ?? res.statusCode,
          e2eS: (endedAt - arrivedAt) / 1000,
          ttfbS: outcome?.firstByteAt
            ? (outcome.firstByteAt - arrivedAt) / 1000
            : res.headersSent
              ? (endedAt - arrivedAt) / 1000
              : null,
          queueS,
          requestBytes,
          responseBytes: outcome?.responseBytes ?? Number(res.getHeader('content-length') ?? 0),
        });
      }
    }
  }

  /**
   * A WebSocket upgrade on an inference route (`…/websocket`, or `…/sync/{path}`): the connection
   * holds one replica slot while it is open (see websocket-upgrade.ts).
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, route: InferenceRoute): void {
    const host: UpgradeHost = {
      resolve: (r) => this.resolver.resolve(r),
      authorize: this.options.authorize,
      deploymentFor: (target) => this.deploymentFor(target),
      failureOf: (d) => this.failures.get(d.id) ?? statusFailure(d),
      activatorFor: (d) => this.activatorFor(d),
      setAside: (id, activator, replicaId) => this.setAside(id, activator, replicaId),
      wakes: this.wakes,
      coldStarts: this.coldStarts,
      queued: this.queued,
      requests: this.requests,
    };
    void proxyUpgrade(host, req, socket, head, route, {
      idleTimeoutMs: this.options.websocketIdleTimeoutMs,
      handshakeTimeoutMs: this.options.websocketHandshakeTimeoutMs,
    });
  }

  /** The deployment a new request to a target goes to: a ramping promotion's candidate takes its share. */
  private deploymentFor(target: ResolvedTarget): Deployment {
    const split = target.split;
    return split && this.split.takesCandidate(target.model.id, target.environment!, split.percent)
      ? split.deployment
      : target.deployment;
  }

  private activatorFor(d: Deployment): Activator {
    let activator = this.activators.get(d.id);
    if (!activator) {
      const capacity = predictConcurrency(d);
      this.capacities.set(d.id, capacity);
      activator = new Activator({
        maxQueue: this.options.maxQueue,
        parkTimeoutMs: this.options.parkTimeoutMs,
        clock: this.options.clock,
      });
      activator.setReplicas(this.ready.get(d.id) ?? [], capacity);
      this.activators.set(d.id, activator);
    }
    return activator;
  }

  /** Requests in flight plus requests queued for a deployment (the autoscaler's signal). */
  /** Requests a deployment's ready replicas take at once (ready replicas × predict_concurrency). */
  readyCapacity(deploymentId: string): number {
    return (this.ready.get(deploymentId)?.length ?? 0) * (this.capacities.get(deploymentId) ?? 1);
  }

  concurrency(deploymentId: string): number {
    const a = this.activators.get(deploymentId);
    return a ? a.inFlight + a.queued : 0;
  }

  /** Requests in flight and requests queued for a deployment, apart (the API's current metrics). */
  load(deploymentId: string): { inFlight: number; queued: number } {
    const a = this.activators.get(deploymentId);
    return { inFlight: a?.inFlight ?? 0, queued: a?.queued ?? 0 };
  }

  /** Requests in flight plus queued, per deployment this gateway has seen. */
  concurrencies(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, a] of this.activators) out.set(id, a.inFlight + a.queued);
    return out;
  }

  /**
   * Stops routing to a replica that is about to be stopped, and resolves once the requests this
   * gateway has on it are finished, or after `timeoutMs`.
   */
  drained(deploymentId: string, replicaId: string, timeoutMs: number): Promise<void> {
    const activator = this.activators.get(deploymentId);
    if (!activator) return Promise.resolve();
    return new Promise((resolve) => {
      const cancel = this.options.clock.after(timeoutMs, resolve);
      void activator.drained(replicaId).then(() => {
        cancel();
        resolve();
      });
    });
  }

  /** Requests in flight on one replica, as the gateway counts them. */
  inFlightOf(deploymentId: string, replicaId: string): number {
    return this.activators.get(deploymentId)?.inFlightOn(replicaId) ?? 0;
  }

  /** Forgets a deleted deployment: everything kept for it goes, parked requests get 404. */
  forget(deploymentId: string): void {
    this.activators
      .get(deploymentId)
      ?.fail(new PlinthError('DEPLOYMENT_NOT_FOUND', `deployment ${deploymentId} was deleted`));
    this.activators.delete(deploymentId);
    this.ready.delete(deploymentId);
    this.failures.delete(deploymentId);
    this.capacities.delete(deploymentId);
    this.resolver.forget(deploymentId);
    this.pools.retain(new Set([...this.ready.values()].flatMap((list) => list.map((r) => r.address))));
  }

  /** Forgets a deleted model's traffic splits (its deployments are forgotten one by one). */
  forgetModel(modelId: string): void {
    this.split.forget(modelId);
  }

  /** How many deployments (and splits) it keeps state for (for tests: nothing only grows). */
  bookkeeping(): Record<'activators' | 'ready' | 'failures' | 'capacities' | 'splits' | 'routes', number> {
    return {
      activators: this.activators.size,
      ready: this.ready.size,
      failures: this.failures.size,
      capacities: this.capacities.size,
      splits: this.split.size,
      routes: this.resolver.size,
    };
  }

  async close(): Promise<void> {
    await this.pools.close();
  }
}

const MAX_ATTEMPTS = 3;

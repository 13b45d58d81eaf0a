// The workers of the async queue (on the leading control plane): each pass expires what waited too
// long, takes back requests whose holder died (their lease ended), claims queued requests of each
// deployment up to what its ready replicas can take (one at least, which wakes a deployment at
// zero), and sends each through the gateway's own inference path with the workers' internal token —
// so predict_concurrency, metrics, logs with the request id and wake from zero all apply, and
// synchronous requests go first when both wait for a slot. A failed model call or an unavailable
// replica is retried with backoff; a 4xx from the model is final.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { retryDelayMs } from '../domain/async-requests.ts';
import type { AsyncError, AsyncRequest } from '../domain/async-requests.ts';
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import type { Store } from '../store/store.ts';

export type WorkerStore = Pick<
  Store,
  | 'claimAsync'
  | 'settleAsync'
  | 'expireAsync'
  | 'reclaimAsyncLeases'
  | 'renewAsyncLeases'
  | 'asyncQueuedByDeployment'
  | 'pruneAsync'
>;

export interface AsyncWorkerOptions {
  store: WorkerStore;
  /** The gateway's own base URL (loopback) and the token its internal requests carry. */
  gatewayUrl: () => string;
  internalToken: string;
  /** Requests a deployment's ready replicas can take at once (0 at zero replicas). */
  capacityOf: (deploymentId: string) => number;
  isLeading: () => boolean;
  /** How long finished requests keep their output (the retention; default 1 h). */
  retentionMs: number;
  /** Told each pass's queue sizes (metrics, autoscaling) and each request's wait when it starts. */
  onQueueSizes?: (queued: ReadonlyMap<string, number>) => void;
  onStarted?: (request: AsyncRequest, waitedS: number) => void;
  /** A request reached a final status or a retry (webhook delivery looks now). */
  onSettled?: (request: AsyncRequest) => void;
  health?: LoopHealth;
  leaseMs?: number;
  intervalMs?: number;
  /** The longest a model call may take before it counts as failed (default 30 min). */
  callTimeoutMs?: number;
  /** The largest output kept (bytes); a larger one fails the request. */
  maxOutputBytes?: number;
}

// Renewed every third of it while the call runs; a holder that died gives its requests back after it.
const DEFAULT_LEASE_MS = 15_000;
/** 4xx answers that are worth asking again (a timeout, too many requests); every other 4xx is final. */
const RETRIED_4XX = new Set([408, 429]);
/** The most requests the workers have in flight at once, over every deployment. */
const MAX_IN_FLIGHT = 256;

export class AsyncWorker {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly inFlight = new Map<string, string>(); // request id → deployment id
  private loop: ControlLoop | null = null;
  private lastPruneMs = 0;
  private lastSweepMs = 0;
  private renewTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: AsyncWorkerOptions) {}

  start(): void {
    this.loop = new ControlLoop(() => this.pass(), {
      name: 'async-queue',
      intervalMs: this.options.intervalMs ?? 250,
      health: this.options.health,
    });
    this.loop.start();
    const leaseMs = this.options.leaseMs ?? DEFAULT_LEASE_MS;
    this.renewTimer = setInterval(() => void this.renew(leaseMs), leaseMs / 3);
    this.renewTimer.unref();
  }

  /** Looks now (a request was queued, a replica became ready). */
  kick(): void {
    void this.loop?.kick();
  }

  /** Stops claiming; what is in flight finishes (or its lease ends and another worker takes it). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.loop?.stop();
  }

  inFlightOf(deploymentId: string): number {
    let n = 0;
    for (const d of this.inFlight.values()) if (d === deploymentId) n++;
    return n;
  }

  async pass(): Promise<void> {
    if (this.stopped || !this.options.isLeading()) return;
    const { store } = this.options;
    const nowMs = Date.now();
    // Expiry and lease reclaims once a second, not on every kick (each finished call kicks).
    if (nowMs - this.lastSweepMs >= 1000) {
      this.lastSweepMs = nowMs;
      await store.expireAsync(nowMs);
      await store.reclaimAsyncLeases(nowMs, this.owner);
    }
    if (nowMs - this.lastPruneMs > 60_000) {
      this.lastPruneMs = nowMs;
      await store.pruneAsync({ now_ms: nowMs, before: new Date(nowMs - 7 * 86_400_000).toISOString() });
    }
    const queued = await store.asyncQueuedByDeployment(nowMs);
    this.options.onQueueSizes?.(queued);
    for (const [deploymentId] of queued) {
      // What its ready replicas take, no more: a request claimed is IN_PROGRESS, so one that waited
      // in the gateway instead would escape its max_time_in_queue_seconds.
      const room = Math.min(
        Math.max(1, this.options.capacityOf(deploymentId)) - this.inFlightOf(deploymentId),
        MAX_IN_FLIGHT - this.inFlight.size,
      );
      if (room <= 0) continue;
      const claimed = await store.claimAsync({
        deployment_id: deploymentId,
        owner: this.owner,
        now_ms: nowMs,
        lease_ms: this.options.leaseMs ?? DEFAULT_LEASE_MS,
        limit: room,
      });
      for (const request of claimed) {
        this.inFlight.set(request.id, deploymentId);
        // Its wait in the queue, once: a retry's second claim is no new arrival.
        if (request.attempts === 1)
          this.options.onStarted?.(request, (nowMs - Date.parse(request.created_at)) / 1000);
        void this.run(request)
          .catch((err: Error) =>
            // Unrecorded: its lease ends and it runs again (never zero times).
            console.error(`async queue: request ${request.id}: ${err.message}`),
          )
          .finally(() => {
            this.inFlight.delete(request.id);
            this.kick();
          });
      }
    }
  }

  private async renew(leaseMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    await this.options.store
      .renewAsyncLeases({ ids: [...this.inFlight.keys()], owner: this.owner, until_ms: Date.now() + leaseMs })
      .catch((err: Error) => console.error(`async queue: renewing leases failed: ${err.message}`));
  }

  /** One model call, and what it means for the request. */
  private async run(request: AsyncRequest): Promise<void> {
    // Put back after crashes more often than it may run: it is not tried again.
    const outcome =
      request.attempts > request.retry.max_attempts
        ? ({
            ok: false,
            retry: false,
            error: {
              code: 'ATTEMPTS_EXHAUSTED',
              message: `the server stopped during its last ${request.retry.max_attempts} attempts`,
            },
          } as const)
        : await this.call(request);
    const { store } = this.options;
    let settled: AsyncRequest | undefined;
    try {
      if (outcome.ok) {
        settled = await store.settleAsync(request.id, this.owner, {
          to: 'SUCCEEDED',
          output_json: outcome.outputJson,
          output_expires_ms: Date.now() + this.options.retentionMs,
        });
      } else if (outcome.retry && request.attempts < request.retry.max_attempts) {
        settled = await store.settleAsync(request.id, this.owner, {
          to: 'QUEUED',
          not_before_ms: Date.now() + retryDelayMs(request.attempts, request.retry),
          error: outcome.error,
        });
      } else {
        settled = await store.settleAsync(request.id, this.owner, { to: 'FAILED', error: outcome.error });
      }
    } catch (err) {
      // The store is away: the lease ends and the request runs again (never zero times).
      console.error(`async queue: recording request ${request.id} failed: ${(err as Error).message}`);
      return;
    }
    if (settled) this.options.onSettled?.(settled);
  }

  private async call(
    request: AsyncRequest,
  ): Promise<{ ok: true; outputJson: string } | { ok: false; retry: boolean; error: AsyncError }> {
    const url = `${this.options.gatewayUrl()}/models/${request.model_id}/deployment/${request.deployment_id}/predict`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-request-id': request.id,
          'x-plinth-internal': this.options.internalToken,
        },
        body: request.input_json,
        signal: AbortSignal.timeout(this.options.callTimeoutMs ?? 30 * 60_000),
      });
    } catch (err) {
      return {
        ok: false,
        retry: true,
        error: { code: 'REPLICA_UNAVAILABLE', message: (err as Error).message },
      };
    }
    let text: string | null;
    try {
      text = await readLimited(res, this.options.maxOutputBytes ?? 16 * 1024 ** 2);
    } catch (err) {
      // Cut off mid-answer (the replica died, the call timed out): worth another try.
      return {
        ok: false,
        retry: true,
        error: { code: 'REPLICA_UNAVAILABLE', message: (err as Error).message },
      };
    }
    if (text === null)
      return {
        ok: false,
        retry: false,
        error: { code: 'OUTPUT_TOO_LARGE', message: 'the model answered more than the output limit' },
      };
    if (res.ok) {
      // JSON stays JSON; a text answer (a stream) is kept as a JSON string.
      try {
        JSON.parse(text);
        return { ok: true, outputJson: text };
      } catch {
        return { ok: true, outputJson: JSON.stringify(text) };
      }
    }
    const error = errorOf(res.status, text);
    return { ok: false, retry: res.status >= 500 || RETRIED_4XX.has(res.status), error };
  }
}

/** The body as text, or null past `max` bytes. */
async function readLimited(res: Response, max: number): Promise<string | null> {
  const chunks: Uint8Array[] = [];
  let seen = 0;
  for await (const chunk of res.body ?? []) {
    seen += (chunk as Uint8Array).length;
    if (seen > max) {
      await res.body?.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The platform's `{error: {code, message}}`, else the status and the start of the body. */
function errorOf(status: number, text: string): AsyncError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code) return { code: body.error.code, message: body.error.message ?? '' };
  } catch {
    // not the platform's error shape
  }
  return { code: `HTTP_${status}`, message: text.slice(0, 500) };
}

// The async routes of every inference URL: `POST …/async_predict` (201 {request_id} once the request
// is durably stored), `GET|DELETE …/async_request/{id}` (its status and kept output / a cancel while
// queued) and `GET …/async_queue_status`. The gateway resolves and authorizes the target first; this
// checks the body (bounded), the webhook target, and talks to the store. It never calls a replica.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ASYNC_LIMITS } from '../domain/async-requests.ts';
import type { AsyncRequest } from '../domain/async-requests.ts';
import { PlinthError } from '../domain/errors.ts';
import type { Deployment, Model } from '../domain/types.ts';
import type { Store } from '../store/store.ts';
import { checkWebhookTarget } from './webhook-target.ts';

export type AsyncStore = Pick<Store, 'enqueueAsync' | 'getAsync' | 'cancelAsync' | 'asyncQueueStatus'>;

export interface AsyncFrontOptions {
  store: AsyncStore;
  /** The largest model_input accepted, bytes (JSON text). */
  maxInputBytes: number;
  /** Webhooks to private and loopback addresses are allowed (`--allow-private-webhooks`). */
  allowPrivateWebhooks: boolean;
  /** A request was stored: the workers look now. */
  onQueued: (deploymentId: string) => void;
  /** Whether a webhook secret signs now (a webhook is refused while none does: nothing goes out unsigned). */
  hasSigningSecret: () => Promise<boolean>;
}

export interface AsyncTarget {
  model: Model;
  deployment: Deployment;
  environment: string | null;
  /** Why the deployment cannot take requests now (inactive, failed); null when it can. */
  failure: PlinthError | null;
}

const { priority, maxTimeInQueueS, maxAttempts, initialDelayMs, maxDelayMs } = ASYNC_LIMITS;
const int = (l: { min: number; max: number }) => z.number().int().min(l.min).max(l.max);

const bodySchema = z.strictObject({
  model_input: z.unknown().refine((v) => v !== undefined, 'model_input is required'),
  webhook_endpoint: z.string().max(2048).nullable().optional(),
  priority: int(priority).optional(),
  max_time_in_queue_seconds: int(maxTimeInQueueS).optional(),
  inference_retry_config: z
    .strictObject({
      max_attempts: int(maxAttempts).optional(),
      initial_delay_ms: int(initialDelayMs).optional(),
      max_delay_ms: int(maxDelayMs).optional(),
    })
    .optional(),
});

/** What a client sees of a request (the output only while it is kept). */
export function describeAsync(r: AsyncRequest): Record<string, unknown> {
  return {
    request_id: r.id,
    status: r.status,
    model_id: r.model_id,
    deployment_id: r.deployment_id,
    created_at: r.created_at,
    ...(r.started_at ? { started_at: r.started_at } : {}),
    ...(r.finished_at ? { finished_at: r.finished_at } : {}),
    attempts: r.attempts,
    ...(r.errors.length > 0 ? { errors: r.errors } : {}),
    ...(r.webhook_status ? { webhook_status: r.webhook_status } : {}),
    ...(r.output_json !== null ? { output: JSON.parse(r.output_json) as unknown } : {}),
  };
}

function send(res: ServerResponse, status: number, body: unknown, requestId: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': requestId,
  });
  res.end(text);
}

/** The body, refused past `max` bytes without reading the rest into memory. */
async function readBounded(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const tooLarge = () =>
    new PlinthError('PAYLOAD_TOO_LARGE', `the async request is over the ${max}-byte limit for model_input`);
  if (declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let seen = 0;
  for await (const chunk of req) {
    seen += (chunk as Buffer).length;
    if (seen > max) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export class AsyncFront {
  constructor(private readonly options: AsyncFrontOptions) {}

  async handle(
    action: 'async_predict' | 'async_request' | 'async_queue_status',
    target: AsyncTarget,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    asyncRequestId?: string,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    if (action === 'async_predict') {
      if (method !== 'POST') throw new PlinthError('METHOD_NOT_ALLOWED', '…/async_predict takes POST');
      return send(res, 201, await this.accept(target, req), requestId);
    }
    req.resume();
    if (action === 'async_queue_status') {
      if (method !== 'GET') throw new PlinthError('METHOD_NOT_ALLOWED', '…/async_queue_status takes GET');
      return send(res, 200, await this.options.store.asyncQueueStatus(target.deployment.id), requestId);
    }
    const found = asyncRequestId ? await this.options.store.getAsync(asyncRequestId) : undefined;
    // A request is seen through the URL it was sent to: its deployment's, or its environment's
    // (a public environment shows only what was sent through it). Others' are as absent as none.
    const reachable =
      found !== undefined &&
      found.model_id === target.model.id &&
      (found.deployment_id === target.deployment.id ||
        (found.environment !== null && found.environment === target.environment));
    if (!found || !reachable)
      throw new PlinthError('NOT_FOUND', `no async request ${asyncRequestId ?? ''} for this model`);
    if (method === 'GET') return send(res, 200, describeAsync(found), requestId);
    if (method !== 'DELETE')
      throw new PlinthError('METHOD_NOT_ALLOWED', '…/async_request/{id} takes GET or DELETE');
    const canceled = await this.options.store.cancelAsync(found.id);
    if (!canceled)
      throw new PlinthError(
        'CONFLICT',
        `async request ${found.id} is ${found.status}: only a QUEUED request can be canceled`,
      );
    send(res, 200, { request_id: found.id, canceled: true, status: canceled.status }, requestId);
  }

  private async accept(target: AsyncTarget, req: IncomingMessage): Promise<{ request_id: string }> {
    if (target.failure) throw target.failure;
    const raw = await readBounded(req, this.options.maxInputBytes + 16 * 1024);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new PlinthError('VALIDATION_ERROR', 'the async request body is not JSON');
    }
    const result = bodySchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const where = issue.path.join('.');
      throw new PlinthError('VALIDATION_ERROR', `${where ? `${where}: ` : ''}${issue.message}`);
    }
    const body = result.data;
    const inputJson = JSON.stringify(body.model_input);
    if (Buffer.byteLength(inputJson) > this.options.maxInputBytes)
      throw new PlinthError(
        'PAYLOAD_TOO_LARGE',
        `model_input is ${Buffer.byteLength(inputJson)} bytes; the limit is ${this.options.maxInputBytes}`,
      );
    const webhook = body.webhook_endpoint ?? null;
    if (webhook !== null) {
      if (!(await this.options.hasSigningSecret()))
        throw new PlinthError(
          'VALIDATION_ERROR',
          'webhook_endpoint: no webhook secret exists to sign its deliveries: an admin creates one with `plinth webhooks secret create`',
        );
      const checked = await checkWebhookTarget(webhook, { allowPrivate: this.options.allowPrivateWebhooks });
      if (!checked.ok) throw new PlinthError('VALIDATION_ERROR', `webhook_endpoint: ${checked.reason}`);
    }
    const retry = body.inference_retry_config ?? {};
    const stored = await this.options.store.enqueueAsync({
      model_id: target.model.id,
      deployment_id: target.deployment.id,
      environment: target.environment,
      priority: body.priority ?? priority.default,
      input_json: inputJson,
      webhook_endpoint: webhook,
      max_time_in_queue_s: body.max_time_in_queue_seconds ?? maxTimeInQueueS.default,
      retry: {
        max_attempts: retry.max_attempts ?? maxAttempts.default,
        initial_delay_ms: retry.initial_delay_ms ?? initialDelayMs.default,
        max_delay_ms: Math.max(retry.max_delay_ms ?? maxDelayMs.default, retry.initial_delay_ms ?? 0),
      },
    });
    this.options.onQueued(target.deployment.id);
    return { request_id: stored.id };
  }
}

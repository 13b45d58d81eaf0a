// One webhook delivery attempt: check the target, POST the signed JSON body to the address that was
// checked (Host and TLS SNI set to the URL's name, so DNS is never asked again between check and
// connect), and say what happened as a value: delivered (2xx), retry (5xx, 408, 429, no answer in
// time, a connection error, a name that does not resolve now) or failed (any other status: the
// receiver refused it; or a refused target). It reads at most 64 KiB of the answer, never follows
// redirects, and never takes longer than timeoutMs. Plus the pure schedule of retries.
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature.ts';
import type { WebhookLookup } from './webhook-target.ts';
import { checkWebhookTarget, webhookHostname } from './webhook-target.ts';

export const REQUEST_ID_HEADER = 'X-Plinth-Request-Id';
/** Bytes of the receiver's answer read at most; the rest is not read (the connection is closed). */
export const WEBHOOK_RESPONSE_CAP_BYTES = 64 * 1024;
/** Deliveries tried at most (the first and its retries) before the request is WEBHOOK_FAILED. */
export const WEBHOOK_MAX_ATTEMPTS = 8;
const RETRY_DELAYS_MS = [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000];

/** The wait before the next try after `attempt` (1-based) failed tries; callers stop at WEBHOOK_MAX_ATTEMPTS. */
export function webhookRetryDelayMs(attempt: number): number {
  const index = Math.min(Math.max(1, Math.floor(attempt)), RETRY_DELAYS_MS.length) - 1;
  return RETRY_DELAYS_MS[index]!;
}

export interface WebhookDeliveryInput {
  url: string;
  body: string;
  requestId: string;
  secrets: readonly string[];
  allowPrivate: boolean;
  timeoutMs: number;
  /** Name resolution (tests only, for names that cannot resolve for real). */
  lookup?: WebhookLookup;
}

export interface WebhookDelivery {
  outcome: 'delivered' | 'retry' | 'failed';
  /** The receiver's status, or null when it never answered (or was not asked). */
  status: number | null;
  /** One line: what happened, for the request's record and the logs. */
  message: string;
}

/** How a receiver's status is taken. */
export function webhookOutcome(status: number): WebhookDelivery['outcome'] {
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 500 || status === 429 || status === 408) return 'retry';
  return 'failed';
}

/** The request to `address` for `url`: the URL's host in the Host header and (https) as the TLS name. */
export function webhookRequestOptions(
  url: URL,
  address: string,
  headers: Record<string, string>,
): RequestOptions {
  const hostname = webhookHostname(url);
  const options: RequestOptions & { servername?: string } = {
    method: 'POST',
    host: address,
    port: url.port || (url.protocol === 'https:' ? 443 : 80),
    path: `${url.pathname}${url.search}`,
    headers: { host: url.host, ...headers },
    agent: false,
  };
  if (url.protocol === 'https:' && !isIP(hostname)) options.servername = hostname;
  return options;
}

function oneLine(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

export async function deliverWebhook(input: WebhookDeliveryInput): Promise<WebhookDelivery> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), input.timeoutMs);
  const timedOut = new Promise<'timeout'>((resolve) =>
    controller.signal.addEventListener('abort', () => resolve('timeout'), { once: true }),
  );
  const noAnswer = (): WebhookDelivery => ({
    outcome: 'retry',
    status: null,
    message: `webhook ${input.url}: no answer within ${input.timeoutMs} ms`,
  });
  try {
    const target = await Promise.race([
      checkWebhookTarget(input.url, { allowPrivate: input.allowPrivate, lookup: input.lookup }),
      timedOut,
    ]);
    if (target === 'timeout') return noAnswer();
    if (!target.ok)
      return { outcome: target.transient ? 'retry' : 'failed', status: null, message: target.reason };
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(input.body)),
      'user-agent': 'Plinth-Webhooks/1',
      [REQUEST_ID_HEADER]: input.requestId,
      [SIGNATURE_HEADER]: signWebhook(input.body, input.secrets),
    };
    const url = new URL(input.url);
    const options = webhookRequestOptions(url, target.address, headers);
    return await post(url, options, input, controller.signal, noAnswer);
  } finally {
    clearTimeout(timer);
  }
}

function post(
  url: URL,
  options: RequestOptions,
  input: WebhookDeliveryInput,
  signal: AbortSignal,
  noAnswer: () => WebhookDelivery,
): Promise<WebhookDelivery> {
  return new Promise((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send({ ...options, signal });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (signal.aborted) return resolve(noAnswer());
      resolve({
        outcome: 'retry',
        status: null,
        message: `webhook ${input.url}: ${error.code ?? 'connection error'}: ${oneLine(error.message)}`,
      });
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const outcome = webhookOutcome(status);
      let read = 0;
      let overCap = false;
      const head: Buffer[] = [];
      const settle = () => {
        const snippet = oneLine(Buffer.concat(head).toString('utf8'));
        const why =
          outcome === 'failed'
            ? status >= 300 && status < 400
              ? ' (redirects are not followed)'
              : ' (the receiver refused it)'
            : '';
        const tail = overCap
          ? ` (answer over ${WEBHOOK_RESPONSE_CAP_BYTES / 1024} KiB, not read)`
          : outcome !== 'delivered' && snippet
            ? `: ${snippet}`
            : '';
        resolve({ outcome, status, message: `webhook ${input.url} answered ${status}${why}${tail}` });
        res.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        if (read < 512) head.push(chunk.subarray(0, 512 - read));
        read += chunk.length;
        if (read > WEBHOOK_RESPONSE_CAP_BYTES) {
          overCap = true;
          settle();
        }
      });
      // The status is what counts: an answer cut short (the deadline, a reset) still settles on it.
      res.on('end', settle);
      res.on('close', settle);
      res.on('error', settle);
    });
    req.end(input.body);
  });
}

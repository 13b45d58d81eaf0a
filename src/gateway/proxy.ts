// Forwards one inference request to a replica over a pooled keep-alive connection, streaming the
// response back chunk by chunk (with backpressure). Small request bodies are read whole first
// (as nginx buffers them), larger or chunked ones stream through. Hop-by-hop headers stay on
// their own hop. This is the hot path: replica-connections.ts's exchanges, raw header arrays, no
// extra objects.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { isPlinthError, PlinthError } from '../domain/errors.ts';
import type { Exchange, ExchangeHandler, ReplicaConnections } from './replica-connections.ts';

export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  // Answered by this hop (node:http sends the 100 itself); a replica never needs it.
  'expect',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'x-request-id',
]);

export const REPLICA_PREDICT_PATH = '/v1/models/model:predict';
const BUFFERED_BODY_LIMIT = 256 * 1024;

/** The header a replica's model server checks: the gateway is the only one that may call it. */
export const REPLICA_TOKEN_HEADER = 'x-plinth-replica-token';

/** Request headers the gateway frames itself on the replica's connection. */
const FRAMING = new Set(['content-length']);

function forwardHeaders(raw: string[], requestId: string, token: string | null): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    // The caller's API key is the platform's business, never the model's; nor is a replica token
    // the caller made up, nor the queue workers' internal token.
    if (
      !HOP_BY_HOP.has(name) &&
      !FRAMING.has(name) &&
      name !== 'authorization' &&
      name !== REPLICA_TOKEN_HEADER &&
      name !== 'x-plinth-internal'
    )
      out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('x-request-id', requestId);
  if (token) out.push(REPLICA_TOKEN_HEADER, token);
  return out;
}

export interface ForwardOptions {
  requestId: string;
  /** Where on the replica: its predict route, or what a `sync` URL passes through (path and query). */
  path: string;
  /** The replica's token (x-plinth-replica-token), where its model server wants one. */
  token: string | null;
  /** How long a client may leave the response unread (backpressure) before it is cut off. */
  stallMs?: number;
}

/** The request body: a Buffer when small and of known length, else the request stream itself. */
export function readSmallBody(
  req: IncomingMessage,
): Promise<Buffer | IncomingMessage | null> | Buffer | IncomingMessage | null {
  if (req.method === 'GET' || req.method === 'HEAD') return null;
  const length = Number(req.headers['content-length']);
  if (!(length <= BUFFERED_BODY_LIMIT)) return req;
  if (length === 0) return Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export interface ProxyOutcome {
  statusCode: number;
  /** Whether any response byte was written to the client. */
  responded: boolean;
  /** When the response head went to the client (performance.now()). */
  firstByteAt: number | null;
  responseBytes: number;
}

/** Why a stalled client's response was cut: it stopped reading while the model still wrote. */
export class ClientStalledError extends Error {
  constructor(stallMs: number) {
    super(`the client read nothing for ${Math.round(stallMs / 1000)} s while the response waited`);
  }
}

export class UpstreamError extends Error {
  constructor(
    override readonly cause: Error,
    readonly responded: boolean,
  ) {
    super(`replica connection failed: ${cause.message}`);
  }
}

export function proxyToReplica(
  connections: ReplicaConnections,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer | NodeJS.ReadableStream | null,
  { requestId, path, token, stallMs = 60_000 }: ForwardOptions,
): Promise<ProxyOutcome> {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    let firstByteAt: number | null = null;
    let responseBytes = 0;
    let exchange: Exchange | undefined;
    let stalled: NodeJS.Timeout | undefined;
    let stallArmed = false;
    let ended = false;
    const endResponse = (chunk?: Buffer): void => {
      try {
        res.end(chunk);
      } catch {
        // (A guard: strictContentLength refuses a body other than its Content-Length, and the
        // replica's body was framed by the length sent on.)
        res.destroy();
      }
    };
    const onClientGone = (): void => {
      clearTimeout(stalled);
      if (!res.writableFinished) exchange?.abort(new Error('client went away'));
    };
    res.once('close', onClientGone);
    const streamed = body !== null && !Buffer.isBuffer(body);
    if (streamed) {
      (body as NodeJS.EventEmitter).once(OVERFLOW, (err: PlinthError) => exchange?.abort(err));
    }
    // A client that stops reading a streaming response holds its slot only so long: then the
    // model's stream is aborted and the connection closed.
    const onStall = (): void => {
      exchange?.abort(new ClientStalledError(stallMs));
      res.destroy();
    };
    // The stall timer is cleared before the upstream resumes: resuming may deliver data at once
    // that fills the client's buffer again and arms a new timer, which must stand (the other order
    // cleared it, and a client that then never read held its slot for good).
    const onDrain = (): void => {
      stallArmed = false;
      clearTimeout(stalled);
      exchange?.resume();
    };
    const handler: ExchangeHandler = {
      onHead(status, rawHeaders) {
        statusCode = status;
        const headers: string[] = [];
        let streaming = false;
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!;
          const lower = name.toLowerCase();
          if (HOP_BY_HOP.has(lower)) continue;
          const value = rawHeaders[i + 1]!;
          headers.push(name, value);
          if (
            lower === 'x-plinth-stream' ||
            (lower === 'content-type' && value.startsWith('text/event-stream'))
          )
            streaming = true;
        }
        headers.push('x-request-id', requestId);
        // A body longer or shorter than the Content-Length sent on is an error here, never bytes
        // a keep-alive client would read as its next answer.
        res.strictContentLength = true;
        res.writeHead(status, headers);
        firstByteAt = performance.now();
        // A stream's head goes at once (a custom server's events, before their first token).
        if (streaming) res.flushHeaders();
      },
      onData(chunk, last) {
        responseBytes += chunk.length;
        // The whole of the rest: one end() sends it (the head with it, when it is the only piece).
        if (last) {
          ended = true;
          endResponse(chunk);
          return true;
        }
        const flowing = res.write(chunk);
        if (!flowing && !stallArmed) {
          stallArmed = true;
          stalled = setTimeout(onStall, stallMs);
          res.once('drain', onDrain);
        }
        return flowing;
      },
      onComplete() {
        clearTimeout(stalled);
        res.off('close', onClientGone);
        if (!ended) endResponse();
        resolve({ statusCode, responded: true, firstByteAt, responseBytes });
      },
      onError(err) {
        clearTimeout(stalled);
        res.off('close', onClientGone);
        if (res.headersSent) {
          res.destroy();
          resolve({ statusCode, responded: true, firstByteAt, responseBytes });
        } else if (isPlinthError(err)) {
          // The request's own fault (a body over the limit): the replica is fine.
          reject(err);
        } else reject(new UpstreamError(err, false));
      },
    };
    try {
      const length = Number(req.headers['content-length']);
      exchange = connections.exchange(
        {
          method: req.method ?? 'POST',
          path,
          headers: forwardHeaders(req.rawHeaders, requestId, token),
          body,
          bodyLength: streamed && length >= 0 ? length : undefined,
        },
        handler,
      );
    } catch (err) {
      res.off('close', onClientGone);
      reject(
        isPlinthError(err)
          ? err
          : new PlinthError('BAD_REQUEST', `the request cannot be forwarded: ${(err as Error).message}`),
      );
    }
  });
}

/**
 * A streamed request body that ends with PAYLOAD_TOO_LARGE once more than `maxBytes` came through
 * (a chunked body has no Content-Length to refuse it by).
 */
export function limitedBody(req: IncomingMessage, maxBytes: number): Transform {
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen <= maxBytes) return done(null, chunk);
      // The rest is not read, and the request to the replica is aborted (its connection is not
      // reused half-written); the 413 goes back with Connection: close.
      req.unpipe(counted);
      counted.emit(
        OVERFLOW,
        new PlinthError('PAYLOAD_TOO_LARGE', `the request body is over the limit of ${maxBytes} bytes`),
      );
      done();
    },
  });
  req.on('error', (err) => counted.destroy(err));
  return req.pipe(counted);
}

/** The event a limited body emits when it passes its limit. */
const OVERFLOW = 'plinth-overflow';

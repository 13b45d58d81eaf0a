// Forwards one inference request to a replica over a pooled keep-alive connection, streaming the
// response back chunk by chunk (with backpressure). Small request bodies are read whole first
// (as nginx buffers them), larger or chunked ones stream through. Hop-by-hop headers stay on
// their own hop. This is the hot path: undici's dispatch API, raw header arrays, no extra objects.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';

const HOP_BY_HOP = new Set([
  'connection',
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

export class ReplicaPools {
  private readonly pools = new Map<string, Pool>();

  get(address: string): Pool {
    let pool = this.pools.get(address);
    if (!pool) {
      pool = new Pool(`http://${address}`, { connections: 512, pipelining: 1, keepAliveTimeout: 60_000 });
      this.pools.set(address, pool);
    }
    return pool;
  }

  /** Closes pools of addresses no longer in use. */
  retain(addresses: ReadonlySet<string>): void {
    for (const [address, pool] of this.pools) {
      if (!addresses.has(address)) {
        this.pools.delete(address);
        void pool.close().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}

function forwardHeaders(raw: string[], requestId: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    // The caller's API key is the platform's business, never the model's.
    if (!HOP_BY_HOP.has(name) && name !== 'authorization') out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('x-request-id', requestId);
  return out;
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

export class UpstreamError extends Error {
  constructor(
    override readonly cause: Error,
    readonly responded: boolean,
  ) {
    super(`replica connection failed: ${cause.message}`);
  }
}

export function proxyToReplica(
  pool: Pool,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer | IncomingMessage | null,
  requestId: string,
): Promise<ProxyOutcome> {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    let firstByteAt: number | null = null;
    let responseBytes = 0;
    let abortUpstream: ((err?: Error) => void) | undefined;
    const onClientGone = (): void => {
      if (!res.writableFinished) abortUpstream?.(new Error('client went away'));
    };
    res.once('close', onClientGone);
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        abortUpstream = abort;
      },
      onHeaders(status, rawHeaders, resume) {
        if (status < 200) return true;
        statusCode = status;
        const headers: string[] = [];
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!.toString();
          if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push(name, rawHeaders[i + 1]!.toString());
        }
        headers.push('x-request-id', requestId);
        res.writeHead(status, headers);
        firstByteAt = performance.now();
        if (headers.includes('x-plinth-stream')) res.flushHeaders();
        res.on('drain', resume);
        return true;
      },
      onData(chunk) {
        responseBytes += chunk.length;
        return res.write(chunk);
      },
      onComplete() {
        res.off('close', onClientGone);
        res.end();
        resolve({ statusCode, responded: true, firstByteAt, responseBytes });
      },
      onError(err) {
        res.off('close', onClientGone);
        if (res.headersSent) {
          res.destroy();
          resolve({ statusCode, responded: true, firstByteAt, responseBytes });
        } else reject(new UpstreamError(err, false));
      },
    };
    pool.dispatch(
      {
        method: (req.method ?? 'POST') as Dispatcher.HttpMethod,
        path: REPLICA_PREDICT_PATH,
        headers: forwardHeaders(req.rawHeaders, requestId),
        body,
      },
      handler,
    );
  });
}

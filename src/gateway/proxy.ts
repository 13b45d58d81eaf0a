// Forwards one inference request to a replica over a pooled keep-alive connection, streaming the
// body both ways. Hop-by-hop headers stay on their own hop.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
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
]);

export const REPLICA_PREDICT_PATH = '/v1/models/model:predict';

export class ReplicaPools {
  private readonly pools = new Map<string, Pool>();

  get(address: string): Pool {
    let pool = this.pools.get(address);
    if (!pool) {
      pool = new Pool(`http://${address}`, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });
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

function forwardHeaders(req: IncomingMessage, requestId: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || name === 'x-request-id') continue;
    const value = raw[i + 1]!;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  out['x-request-id'] = requestId;
  return out;
}

export interface ProxyResult {
  statusCode: number;
  /** Whether any response byte reached the client. */
  responded: boolean;
}

export async function proxyToReplica(
  pool: Pool,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
): Promise<ProxyResult> {
  const abort = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const upstream: Dispatcher.ResponseData = await pool.request({
    method: (req.method ?? 'POST') as Dispatcher.HttpMethod,
    path: REPLICA_PREDICT_PATH,
    headers: forwardHeaders(req, requestId),
    body: hasBody ? req : null,
    signal: abort.signal,
  });
  const headers: OutgoingHttpHeaders = { 'x-request-id': requestId };
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
  }
  res.writeHead(upstream.statusCode, headers);
  // Streaming responses are flushed chunk by chunk as they arrive.
  try {
    for await (const chunk of upstream.body) {
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
  return { statusCode: upstream.statusCode, responded: true };
}

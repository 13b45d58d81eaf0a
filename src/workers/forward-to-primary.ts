// A `plinth up` gateway worker passes what is not inference (the API, the dashboard, /healthz,
// /metrics) to its primary's door and streams the answer back: method, path, headers and status as
// they are, bodies both ways as they come (uploads, log follows as server-sent events), over pooled
// keep-alive connections. Hop-by-hop headers are the connection's own and stay behind.
import { Agent, request } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from '../domain/errors.ts';
import type { PrimaryDoorAddress } from './messages.ts';
import { CLIENT_HEADER, TOKEN_HEADER } from './primary-door.ts';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  // The worker answered `100 Continue` itself already.
  'expect',
  TOKEN_HEADER,
  CLIENT_HEADER,
]);

/** Headers to pass on: all but hop-by-hop ones and those the Connection header names. */
function endToEnd(rawHeaders: readonly string[], connection: string | string[] | undefined): string[] {
  const named = new Set(
    String(connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(lower) && !named.has(lower)) out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return out;
}

export interface PrimaryForwarder {
  /** Passes one request to the primary and its answer back. */
  forward(req: IncomingMessage, res: ServerResponse): void;
  /** Requests passed so far. */
  readonly forwarded: number;
  close(): void;
}

export function forwardToPrimary(door: PrimaryDoorAddress): PrimaryForwarder {
  // Not capped here: long streams (log follows) would queue every other request behind them with
  // no deadline. The door caps connections instead, and one over its cap is refused at once.
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 64 });
  let forwarded = 0;
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    forwarded++;
    const headers = endToEnd(req.rawHeaders, req.headers.connection);
    // A body sent in chunks goes on in chunks (node frames it; GET and DELETE would not by default).
    if (req.headers['transfer-encoding'] && req.headers['content-length'] === undefined)
      headers.push('Transfer-Encoding', 'chunked');
    headers.push(TOKEN_HEADER, door.token, CLIENT_HEADER, req.socket.remoteAddress ?? '');
    const upstream = request({
      host: '127.0.0.1',
      port: door.port,
      method: req.method,
      path: req.url,
      headers,
      setHost: false,
      agent,
    });
    upstream.on('response', (answer) => {
      res.writeHead(
        answer.statusCode ?? 502,
        answer.statusMessage,
        endToEnd(answer.rawHeaders, answer.headers.connection),
      );
      // An answer that breaks off (the primary stopped) breaks the client's off too.
      answer.on('aborted', () => res.destroy());
      answer.on('error', () => res.destroy());
      answer.pipe(res);
    });
    upstream.on('error', (err) => {
      if (res.headersSent) return void res.destroy(err);
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          errorBody(
            'PRIMARY_UNAVAILABLE',
            `this gateway worker could not reach its primary process: ${err.message}`,
          ),
        ),
      );
    });
    // A client that goes away (a closed log follow) ends the passed request too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  };
  return {
    forward,
    get forwarded() {
      return forwarded;
    },
    close: () => agent.destroy(),
  };
}

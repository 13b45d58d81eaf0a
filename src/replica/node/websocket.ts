// The Node model server's WebSocket route: an upgrade on `GET /v1/websocket` (with the replica's
// token, checked before the upgrade is accepted) hands the accepted `ws` WebSocket to the model's
// websocket(ws). The connection holds one predict slot while open; it stays open after
// websocket() returns (an event-style handler) until either side closes it. A websocket() that
// throws closes it with 1011. Pings every `pingIntervalMs`; a ping unanswered for `pingTimeoutMs`
// ends the connection. A drain closes open connections with 1001.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { ModelInstance } from './model-instance.ts';
import { withRequestId } from './request-context.ts';
import type { Semaphore } from './semaphore.ts';

export const WEBSOCKET_PATH = '/v1/websocket';

export interface WebSocketRouteOptions {
  /** Whether the upgrade request carries the replica's token. */
  authorized(req: IncomingMessage): boolean;
  /** The model once loaded (undefined while load() runs), and whether the server drains. */
  model(): ModelInstance | undefined;
  draining(): boolean;
  slots: Semaphore;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** A connection opened (true) or closed (false): the server counts it as a request in flight. */
  onOpenChange(open: boolean): void;
}

export interface WebSocketRoute {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every open connection (1001), ending those that do not close within `graceMs`. */
  closeAll(graceMs: number): void;
}

/** A plain HTTP answer on a socket that is not upgraded; then it closes. */
function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 401: 'Unauthorized', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Pings `ws` every interval; ends it when a ping is unanswered past the timeout. Returns the stopper. */
function keepAlive(ws: WebSocket, intervalMs: number, timeoutMs: number): () => void {
  let unanswered: NodeJS.Timeout | undefined;
  ws.on('pong', () => clearTimeout(unanswered));
  const ticker = setInterval(() => {
    ws.ping();
    clearTimeout(unanswered);
    unanswered = setTimeout(() => ws.terminate(), timeoutMs);
  }, intervalMs);
  return () => {
    clearInterval(ticker);
    clearTimeout(unanswered);
  };
}

export function createWebSocketRoute(options: WebSocketRouteOptions): WebSocketRoute {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 100 * 1024 * 1024 });
  const open = new Set<WebSocket>();

  async function serve(ws: WebSocket, model: ModelInstance, release: () => void, req: IncomingMessage) {
    open.add(ws);
    options.onOpenChange(true);
    const stopPings = keepAlive(ws, options.pingIntervalMs, options.pingTimeoutMs);
    ws.once('close', () => {
      stopPings();
      open.delete(ws);
      release();
      options.onOpenChange(false);
    });
    ws.on('error', (err) => console.error(`websocket: ${err.message}`));
    const requestId = req.headers['x-request-id'];
    try {
      await withRequestId(typeof requestId === 'string' ? requestId : undefined, () => model.websocket(ws));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      console.error(`websocket failed: ${e.stack ?? e.message}`);
      // A close reason is at most 123 bytes.
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING)
        ws.close(1011, Buffer.from(`model error: ${e.message}`).subarray(0, 123).toString());
    }
  }

  return {
    upgrade(req, socket, head) {
      socket.on('error', () => undefined);
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' || path !== WEBSOCKET_PATH)
        return refuse(socket, 404, 'NOT_FOUND', `no WebSocket route ${req.method} ${path}`);
      if (!options.authorized(req))
        return refuse(socket, 401, 'UNAUTHORIZED', 'this replica answers only the Plinth gateway');
      const model = options.model();
      if (!model || options.draining())
        return refuse(
          socket,
          503,
          'MODEL_NOT_READY',
          options.draining() ? 'the replica is draining' : 'the model is still loading',
        );
      if (!model.servesWebSocket) {
        return refuse(socket, 404, 'NOT_FOUND', 'the model has no websocket() method; call it at …/predict');
      }
      let gone = false;
      socket.once('close', () => (gone = true));
      void options.slots.acquire().then((release) => {
        if (gone) return release();
        // A handshake that ws refuses (a bad key) never opens: the slot goes with the socket.
        socket.once('close', release);
        wss.handleUpgrade(req, socket, head, (ws) => void serve(ws, model, release, req));
      });
    },
    closeAll(graceMs) {
      for (const ws of open) {
        ws.close(1001, 'the replica is stopping');
        setTimeout(() => ws.terminate(), graceMs).unref();
      }
    },
  };
}

// Takes upgrade requests off a node:http server: a WebSocket upgrade on an inference URL goes to
// the gateway; any other (h2c, a WebSocket to a URL that takes none) is handed back to the server
// as the plain request it also is, so that listening for upgrades changes nothing for them.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { InferenceRoute } from './routing.ts';
import { isWebSocketUpgrade } from './websocket-upgrade.ts';

export interface UpgradeTaker {
  match(req: IncomingMessage): InferenceRoute | null;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, route: InferenceRoute): void;
}

export function listenForUpgrades(server: Server, gateway: UpgradeTaker): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const route = isWebSocketUpgrade(req) ? gateway.match(req) : null;
    if (route) gateway.upgrade(req, socket, head, route);
    else asPlainRequest(server, req, socket, head);
  });
}

/**
 * Gives the connection back to the server with the request's head written again without its
 * upgrade (and what followed it), so that the server parses it afresh: answered as node:http
 * answers any request, the connection kept alive as usual.
 */
function asPlainRequest(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    let value = req.rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'upgrade') continue;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && t.toLowerCase() !== 'upgrade')
        .join(', ');
      if (value === '') continue;
    }
    lines.push(`${name}: ${value}`);
  }
  const rebuilt = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  server.emit('connection', socket);
  socket.emit('data', head.length > 0 ? Buffer.concat([rebuilt, head]) : rebuilt);
}

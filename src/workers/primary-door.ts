// The primary's door for its gateway workers (`plinth up --gateway-workers N`): a loopback listener
// on a port of its own where workers pass every request that is not inference (the API, the
// dashboard, /healthz, /metrics). A passed request carries a token only the workers were told, and
// the address of the client the worker took it from; the door hands it to the primary's own server
// as if that server had taken it, so it is answered exactly as on the shared port.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { FORWARDED_CLIENT } from '../domain/client-address.ts';
import { errorBody } from '../domain/errors.ts';
import { applyDeadlines } from '../http-listen.ts';
import type { ListenSettings } from '../http-listen.ts';
import type { PrimaryDoorAddress } from './messages.ts';

/** Carries the door's token: a request without it is refused. */
export const TOKEN_HEADER = 'x-plinth-worker-token';
/** Carries the address of the client the worker took the request from. */
export const CLIENT_HEADER = 'x-plinth-worker-client';
/** Connections per worker the primary's door takes at once. */
const DOOR_SOCKETS_PER_WORKER = 1024;

export interface PrimaryDoor {
  address: PrimaryDoorAddress;
  close(): Promise<void>;
}

function sameToken(given: string | string[] | undefined, expected: Buffer): boolean {
  if (typeof given !== 'string') return false;
  const g = Buffer.from(given);
  return g.length === expected.length && timingSafeEqual(g, expected);
}

/** The request without the door's own headers (and the client's address noted on it). */
function unwrap(req: IncomingMessage): void {
  const client = req.headers[CLIENT_HEADER];
  (req as IncomingMessage & { [FORWARDED_CLIENT]?: string })[FORWARDED_CLIENT] =
    typeof client === 'string' ? client : '';
  delete req.headers[TOKEN_HEADER];
  delete req.headers[CLIENT_HEADER];
  const raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const lower = req.rawHeaders[i]!.toLowerCase();
    if (lower !== TOKEN_HEADER && lower !== CLIENT_HEADER)
      raw.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  req.rawHeaders.splice(0, req.rawHeaders.length, ...raw);
}

/** Opens the door on 127.0.0.1 (a free port) in front of `target`, with the same deadlines. */
export async function openPrimaryDoor(
  target: Server,
  settings: ListenSettings,
  workers: number,
): Promise<PrimaryDoor> {
  const token = randomBytes(24).toString('base64url');
  const expected = Buffer.from(token);
  const door = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    if (!sameToken(req.headers[TOKEN_HEADER], expected)) {
      res.writeHead(403, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify(errorBody('FORBIDDEN', 'this port takes requests from gateway workers only')));
      return;
    }
    unwrap(req);
    target.emit('request', req, res);
  });
  // Workers keep pooled connections to it; the cap (room for DOOR_SOCKETS_PER_WORKER open streams
  // and requests per worker) keeps any other local process from holding the primary's descriptors
  // with silent connections. One over it is refused, and its worker answers 503 at once.
  applyDeadlines(door, {
    ...settings,
    maxConnections: Math.max(1, workers) * DOOR_SOCKETS_PER_WORKER + 16,
  });
  await new Promise<void>((resolve, reject) => {
    door.once('error', reject);
    door.listen(0, '127.0.0.1', () => {
      door.off('error', reject);
      resolve();
    });
  });
  const port = (door.address() as { port: number }).port;
  return {
    address: { port, token },
    async close() {
      const closed = new Promise((r) => door.close(r));
      door.closeAllConnections();
      await closed;
    },
  };
}

// How the server and the gateway listen: the same deadlines for slow clients and keep-alive, and
// the URL a client reaches them at once listening (an unspecified address becomes loopback); how a
// gateway worker serves the connections of a listening server handed to it (`--gateway-workers`),
// and how it lets open requests finish when it stops.
import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';

export interface ListenSettings {
  port: number;
  host: string;
  /** Seconds a client may take to send a request's headers, then its whole request. */
  headersTimeoutS: number;
  requestTimeoutS: number;
  /** Open connections at most (0: no cap). */
  maxConnections: number;
}

/** The deadlines every listening server of Plinth's has. */
export function applyDeadlines(server: Server, settings: ListenSettings): void {
  // Idle keep-alive connections stay open longer than clients and load balancers expect to reuse them.
  server.keepAliveTimeout = 65_000;
  // A slow client cannot hold a connection forever: its headers, then its whole request, have a deadline.
  server.headersTimeout = settings.headersTimeoutS * 1000;
  server.requestTimeout = Math.max(server.headersTimeout, settings.requestTimeoutS * 1000);
  if (settings.maxConnections > 0) server.maxConnections = settings.maxConnections;
  // node:http's deadlines start with a request's first byte: a connection that never sends one
  // would stay open for ever. It gets the headers timeout too. (Its bytes are counted, not
  // listened to: a 'data' listener on the socket would take it from node's parser, which reads
  // it natively, and put every request through JS stream events instead.)
  server.on('connection', (socket: Socket) => {
    const silent = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, server.headersTimeout);
    silent.unref();
    socket.once('close', () => clearTimeout(silent));
  });
}

/** The URL clients reach a listening server at. */
export function listeningUrl(server: Pick<NetServer, 'address'>, host: string): string {
  const port = (server.address() as AddressInfo).port;
  const bracketed = host.includes(':') ? `[${host}]` : host;
  const reachable = bracketed === '0.0.0.0' ? '127.0.0.1' : bracketed === '[::]' ? '[::1]' : bracketed;
  return `http://${reachable}:${port}`;
}

/** Applies the deadlines, listens, and answers the URL clients reach the server at. */
export async function listen(server: Server, settings: ListenSettings): Promise<string> {
  applyDeadlines(server, settings);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return listeningUrl(server, settings.host);
}

/**
 * Serves, on `server` (which never listens itself), the connections `handed` accepts — a listening
 * server another process handed over — with the same deadlines and connection cap as `listen`.
 */
export function serveHanded(server: Server, handed: NetServer, settings: ListenSettings): void {
  applyDeadlines(server, settings);
  if (settings.maxConnections > 0) handed.maxConnections = settings.maxConnections;
  handed.on('connection', (socket: Socket) => server.emit('connection', socket));
  // An accept that fails (too many open files) is the one connection's loss, not the process's.
  handed.on('error', (err) => console.error(`gateway worker: ${err.message}`));
  // node:http starts checking its connections' deadlines when it listens: this server does not.
  server.emit('listening');
}

/** The connections a server has open (upgraded ones included), as they open and close. */
export function trackConnections(server: Server): ReadonlySet<Socket> {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    if (open.has(socket)) return;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return open;
}

/**
 * Lets the requests open on a server that no longer accepts finish: idle connections close at
 * once, busy ones once their answer is sent; after `graceMs` whatever is left is closed.
 */
export async function drainConnections(
  server: Server,
  open: ReadonlySet<Socket>,
  graceMs: number,
): Promise<void> {
  const deadline = Date.now() + graceMs;
  // A request arriving meanwhile on a kept-alive connection is answered, and its connection closed.
  server.prependListener('request', (_req, res: { shouldKeepAlive: boolean }) => {
    res.shouldKeepAlive = false;
  });
  while (open.size > 0 && Date.now() < deadline) {
    server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
  }
  server.closeAllConnections();
  for (const socket of open) socket.destroy();
}

// How the server and the gateway listen: the same deadlines for slow clients and keep-alive, and
// the URL a client reaches them at once listening (an unspecified address becomes loopback).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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
  // would stay open for ever. It gets the headers timeout too.
  server.on('connection', (socket) => {
    const silent = setTimeout(() => socket.destroy(), server.headersTimeout);
    silent.unref();
    socket.once('data', () => clearTimeout(silent));
    socket.once('close', () => clearTimeout(silent));
  });
}

/** The URL clients reach a listening server at. */
export function listeningUrl(server: Server, host: string): string {
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

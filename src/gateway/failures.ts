// How the gateway turns failures into answers: the platform's error shape on a response (or, for
// a WebSocket upgrade, written on the bare socket), the failure a deployment's status means, and
// which replica connection errors prove a request never reached it. No I/O beyond the write.
import { STATUS_CODES } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isFailed, isInactive } from '../domain/deployment-status.ts';
import { errorBody, isPlinthError, PlinthError } from '../domain/errors.ts';
import type { Deployment } from '../domain/types.ts';
import type { UpstreamError } from './proxy.ts';
import { CONNECT_TIMEOUT_CODE } from './replica-connections.ts';

function asPlinthError(err: unknown): PlinthError {
  if (isPlinthError(err)) return err;
  console.error('gateway:', err);
  return new PlinthError('INTERNAL', 'the gateway failed to forward the request');
}

export function sendError(res: ServerResponse, err: unknown, requestId: string): void {
  const e = asPlinthError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(e.code, e.message));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  };
  if (e.code === 'QUEUE_FULL') headers['retry-after'] = 1;
  if (e.code === 'UPGRADE_REQUIRED') headers.upgrade = 'websocket';
  // A body too large to read is not read: the connection closes instead of waiting for it.
  if (e.code === 'PAYLOAD_TOO_LARGE') headers.connection = 'close';
  res.writeHead(e.httpStatus, headers);
  res.end(body);
}

/** The same answer on a socket taken off the HTTP server (an upgrade): then the socket closes. */
export function writeSocketError(socket: Duplex, err: unknown, requestId: string): void {
  const e = asPlinthError(err);
  const body = JSON.stringify(errorBody(e.code, e.message));
  const head = [
    `HTTP/1.1 ${e.httpStatus} ${STATUS_CODES[e.httpStatus] ?? 'Error'}`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    `x-request-id: ${requestId}`,
    ...(e.code === 'QUEUE_FULL' ? ['retry-after: 1'] : []),
    'connection: close',
  ];
  if (!socket.destroyed) socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * Connection errors that prove the replica never received the request: refused, no connection in
 * time, no such socket, or a connection the replica had already closed when the request was
 * written (EPIPE: the write itself failed).
 */
export function neverReached(err: UpstreamError): boolean {
  const code = (err.cause as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || code === CONNECT_TIMEOUT_CODE || code === 'ENOENT' || code === 'EPIPE';
}

export function replicaUnavailable(err: UpstreamError): PlinthError {
  return new PlinthError(
    'REPLICA_UNAVAILABLE',
    `the replica could not answer (${err.cause.message}); try again`,
  );
}

/** Why a deployment cannot answer at all (failed, or inactive), or null. */
export function statusFailure(d: Deployment): PlinthError | null {
  if (isFailed(d.status)) {
    return new PlinthError(
      'DEPLOYMENT_FAILED',
      `deployment ${d.name} (${d.id}) is ${d.status}: ${d.status_reason ?? 'see its logs'}`,
    );
  }
  if (isInactive(d.status)) {
    return new PlinthError(
      'DEPLOYMENT_INACTIVE',
      `deployment ${d.name} (${d.id}) is inactive; activate it to call it`,
    );
  }
  return null;
}

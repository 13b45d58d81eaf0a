// Keep-alive HTTP/1.1 connections from the gateway to replicas, one request at a time on each: the
// request goes out in one write (head and a small body in one buffer), the response is read by
// ResponseReader and handed on as it arrives, with backpressure. Built for the hot path (no
// per-request timers, no stream objects): a connection idle longer than replicas keep theirs is not
// reused but closed, and a sweep closes the ones left idle. Errors keep their cause's code, so
// the gateway can tell a replica that never got a request (refused, or no connection in time)
// from one that failed while answering. A kept-alive connection the replica closed just as a
// request went out on it (its idle timeout crossing the request) is not the replica failing: a
// whole request whose connection closed within a second of its write, before any byte of an
// answer, is sent again, once, on a new connection. This is a choice nginx and Go's transport do
// not make for a POST: a replica that fails on a request within that second without dying (one
// worker of several) may be given it twice. Inference is rarely harmed by running twice; a 503
// for every idle-timeout race is what users would see otherwise. Later than a second, never.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { PlinthError } from '../domain/errors.ts';
import { replicaEndpoint } from './replica-paths.ts';
import type { ReplicaEndpoint } from './replica-paths.ts';
import { ResponseReader } from './replica-response.ts';
import type { ResponseEvents } from './replica-response.ts';

/** What the gateway hears of one exchange; exactly one of onComplete and onError ends it. */
export interface ExchangeHandler {
  onHead(status: number, headers: string[]): void;
  /**
   * A piece of the body; false asks for no more until the exchange's resume(). `last`: no body
   * follows (onComplete comes next, once the connection is put back).
   */
  onData(chunk: Buffer, last: boolean): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

export interface ExchangeRequest {
  method: string;
  /** Path and query, as sent on the request line. */
  path: string;
  /** Headers to send, flat (name, value…), without Host and body framing (added here). */
  headers: readonly string[];
  body: Buffer | NodeJS.ReadableStream | null;
  /** A streamed body's length when known; without it the body is sent chunked. */
  bodyLength?: number;
}

export interface Exchange {
  /** Ends the exchange with `err` (the client went away, stalled, sent too much): the connection closes. */
  abort(err: Error): void;
  /** Asks for more body after onData said false. */
  resume(): void;
}

/** The code of an error for a connection that did not open in time (the request never left). */
export const CONNECT_TIMEOUT_CODE = 'PLINTH_CONNECT_TIMEOUT';
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * A replica that sends nothing for this long while a request waits on it fails the request (the
 * time its answer waits for a slow client to read is not counted).
 */
const REPLY_TIMEOUT_MS = 300_000;
/** Idle connections are not reused after this (servers commonly drop theirs after 5 s). */
const IDLE_MS = 4000;
/**
 * How soon after its write a reused connection's close still reads as the replica's idle timeout
 * crossing the request (a round trip), rather than the replica failing while it worked on it.
 */
const RESEND_WINDOW_MS = 1000;
const MAX_IDLE = 512;
/** What one read of a replica connection takes at most (one buffer for all of them). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** What a request line may carry (a parsed request URL's characters, sent byte for byte as latin1). */
const PATH_CHARS = /^[\x21-\xff]+$/;

class ConnectionError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

class Connection {
  readonly socket: Socket;
  current: ActiveExchange | null = null;
  idleSince = 0;
  connected = false;
  /** Whether it carried an earlier exchange (taken from the idle ones), and when it was taken. */
  reused = false;
  takenAt = 0;

  constructor(
    private readonly pool: ReplicaConnections,
    endpoint: ReplicaEndpoint,
  ) {
    // Read into one buffer that every connection shares, not through stream events: each read is
    // taken in before the next one lands (what outlives it, a head still coming in or a body
    // piece, is copied).
    this.socket = connect({
      ...endpoint,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (bytes: number, buffer: Uint8Array) => {
          const data = (buffer as Buffer).subarray(0, bytes);
          // Bytes nobody asked for (an idle connection): it is not trusted again.
          if (this.current) this.current.read(data);
          else this.socket.destroy();
          // (Backpressure pauses the socket itself.)
          return true;
        },
      },
    });
    this.socket.setTimeout(CONNECT_TIMEOUT_MS);
    this.socket.once('connect', () => {
      this.connected = true;
      this.socket.setTimeout(this.pool.replyTimeoutMs);
    });
    this.socket.on('end', () => {
      // An idle connection the replica ended is closed now: between its end and its close, a
      // request written on it would be lost.
      if (this.current) this.current.ended();
      else this.socket.destroy();
    });
    this.socket.on('timeout', () => {
      this.current?.fail(
        this.connected
          ? new ConnectionError(
              `the replica sent nothing for ${this.pool.replyTimeoutMs / 1000} s`,
              'PLINTH_REPLY_TIMEOUT',
            )
          : new ConnectionError(
              `no connection to the replica within ${CONNECT_TIMEOUT_MS / 1000} s`,
              CONNECT_TIMEOUT_CODE,
            ),
      );
      this.socket.destroy();
    });
    this.socket.on('error', (err) => this.current?.fail(err));
    this.socket.on('close', () => {
      this.current?.fail(new ConnectionError('the replica closed the connection', 'PLINTH_REPLICA_CLOSED'));
      this.pool.dropIdle(this);
    });
  }
}

class ActiveExchange implements Exchange, ResponseEvents {
  private reader: ResponseReader;
  private done = false;
  private finished = false;
  private reusable = false;
  /** Whether any byte of the answer arrived. */
  private answered = false;
  /** Whether its reading is paused for a reader who asked for no more (its reply timeout off). */
  private paused = false;
  /** A whole request written on a reused connection, kept while the exchange lasts to send again. */
  private resendBytes: Buffer | null = null;
  private sentAt = 0;
  /** Why it was sent again: what it fails with if the new connection cannot be made either. */
  private closedWith: Error | null = null;
  /** Whether all of the request went out (a connection with a body half sent is not reused). */
  bodySent: boolean;
  /** Stops streaming the request body (set while one streams). */
  stopBody: (() => void) | null = null;

  constructor(
    private connection: Connection,
    private readonly pool: ReplicaConnections,
    private readonly handler: ExchangeHandler,
    private readonly method: string,
    streamed: boolean,
  ) {
    this.reader = new ResponseReader(this, method === 'HEAD');
    this.bodySent = !streamed;
    connection.current = this;
  }

  keepForResend(bytes: Buffer, sentAt: number): void {
    this.resendBytes = bytes;
    this.sentAt = sentAt;
  }

  /** Whether `err` is the replica's idle close crossing this request, which can go again. */
  private closedUnderRequest(err: Error): boolean {
    return (
      this.resendBytes !== null &&
      !this.answered &&
      closedUnder(err) &&
      Date.now() - this.sentAt <= this.pool.resendWindowMs &&
      !this.pool.isClosed
    );
  }

  // ResponseEvents, called while `read` feeds the reader.
  head(status: number, headers: string[]): void {
    this.handler.onHead(status, headers);
  }

  body(chunk: Buffer, last: boolean): void {
    // A copy: the read buffer is the next read's.
    if (!this.done && !this.handler.onData(Buffer.from(chunk), last)) {
      // While the client keeps it waiting, the replica's silence is not the replica's.
      this.paused = true;
      this.connection.socket.setTimeout(0);
      this.connection.socket.pause();
    }
  }

  end(reusable: boolean): void {
    this.finished = true;
    this.reusable = reusable;
  }

  read(data: Buffer): void {
    this.answered = true;
    this.resendBytes = null;
    try {
      this.reader.feed(data);
    } catch (err) {
      // Bytes past a whole answer (a replica that sent more than it framed): the answer stands,
      // the connection is not used again.
      if (!this.finished) return this.fail(err as Error);
      this.reusable = false;
    }
    if (this.finished) this.complete();
  }

  ended(): void {
    if (this.done) return;
    try {
      this.reader.finish();
    } catch (err) {
      return this.fail(
        new ConnectionError(
          (err as Error).message,
          this.reader.headRead ? 'PLINTH_REPLICA_CUT' : 'PLINTH_REPLICA_CLOSED',
        ),
      );
    }
    this.complete();
  }

  private complete(): void {
    if (this.done) return;
    this.done = true;
    this.stopBody?.();
    this.connection.current = null;
    // An answer may end while its reader is paused (its end came in the same read): the
    // connection goes back with its reply timeout.
    if (this.paused) this.connection.socket.setTimeout(this.pool.replyTimeoutMs);
    this.pool.release(this.connection, this.reusable && this.bodySent);
    this.handler.onComplete();
  }

  fail(err: Error): void {
    if (this.done) return;
    if (this.closedUnderRequest(err)) return this.resend(err);
    this.done = true;
    this.stopBody?.();
    this.connection.current = null;
    this.connection.socket.destroy();
    // A replica that reset or closed the connection and then refuses a new one may have died of
    // this very request: the gateway must not take that for a replica that never saw it, and try
    // another. (After EPIPE the replica never read it: the gateway may well try another.)
    this.handler.onError(this.closedWith !== null && !this.connection.connected ? this.closedWith : err);
  }

  abort(err: Error): void {
    this.resendBytes = null;
    this.closedWith = null;
    this.fail(err);
  }

  /** The same request on a new connection; the handler has heard nothing, and hears only that. */
  private resend(closedWith: Error): void {
    const bytes = this.resendBytes!;
    this.resendBytes = null;
    this.closedWith = closedWith;
    this.connection.current = null;
    this.connection.socket.destroy();
    this.reader = new ResponseReader(this, this.method === 'HEAD');
    this.connection = this.pool.open();
    this.connection.current = this;
    this.connection.socket.write(bytes);
  }

  resume(): void {
    if (this.done || !this.paused) return;
    this.paused = false;
    this.connection.socket.setTimeout(this.pool.replyTimeoutMs);
    this.connection.socket.resume();
  }

  get isDone(): boolean {
    return this.done;
  }
}

/** The connections to one replica address (host:port). */
export class ReplicaConnections {
  private readonly idle: Connection[] = [];
  private readonly endpoint: ReplicaEndpoint;
  /** What the Host header says (a Unix socket's path is no host name). */
  private readonly hostHeader: string;
  private closed = false;

  /**
   * `idleMs`: how long an idle connection may be reused; `resendWindowMs`: how soon after its
   * write a request whose kept-alive connection closed may go again; `replyTimeoutMs`: how long a
   * replica may send nothing while a request waits on it, not counting while the client reads
   * nothing (tests change them).
   */
  constructor(
    readonly address: string,
    private readonly idleMs = IDLE_MS,
    readonly resendWindowMs = RESEND_WINDOW_MS,
    readonly replyTimeoutMs = REPLY_TIMEOUT_MS,
  ) {
    this.endpoint = replicaEndpoint(address);
    this.hostHeader = 'path' in this.endpoint ? 'localhost' : address;
  }

  /** Sends a request; throws PlinthError BAD_REQUEST for one that cannot be sent as asked. */
  exchange(request: ExchangeRequest, handler: ExchangeHandler): Exchange {
    if (!PATH_CHARS.test(request.path))
      throw new PlinthError('BAD_REQUEST', 'the request path has characters a request line cannot carry');
    const connection = this.take();
    const streamed = request.body !== null && !Buffer.isBuffer(request.body);
    const exchange = new ActiveExchange(connection, this, handler, request.method, streamed);
    let head = `${request.method} ${request.path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n`;
    const h = request.headers;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    const socket = connection.socket;
    if (!streamed) {
      const body = request.body as Buffer | null;
      // A body-less GET/HEAD says nothing of a body; any other method says its length, even 0.
      if (body !== null || (request.method !== 'GET' && request.method !== 'HEAD'))
        head += `content-length: ${body?.length ?? 0}\r\n`;
      head += '\r\n';
      const bytes = wholeRequest(head, body);
      if (connection.reused) exchange.keepForResend(bytes, connection.takenAt);
      socket.write(bytes);
      return exchange;
    }
    const chunked = request.bodyLength === undefined;
    head += chunked ? 'transfer-encoding: chunked\r\n\r\n' : `content-length: ${request.bodyLength}\r\n\r\n`;
    socket.write(head, 'latin1');
    sendBody(request.body as NodeJS.ReadableStream, socket, exchange, chunked);
    return exchange;
  }

  private take(): Connection {
    const now = Date.now();
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (now - c.idleSince < this.idleMs && !c.socket.destroyed && !c.socket.readableEnded) {
        c.socket.ref();
        c.reused = true;
        c.takenAt = now;
        return c;
      }
      c.socket.destroy();
    }
    return this.open();
  }

  /** A new connection (for a request sent again after a kept-alive one closed under it). */
  open(): Connection {
    return new Connection(this, this.endpoint);
  }

  /**
   * A connection whose exchange ended: kept for the next request, or closed. It is kept only
   * after the I/O already arrived is seen: a replica that closes right after answering (without
   * saying Connection: close) has its close read first, and no request is written onto it.
   */
  release(connection: Connection, reusable: boolean): void {
    if (!reusable) {
      connection.socket.destroy();
      return;
    }
    connection.socket.resume();
    setImmediate(() => {
      const socket = connection.socket;
      if (this.closed || this.idle.length >= MAX_IDLE || socket.destroyed || socket.readableEnded) {
        socket.destroy();
        return;
      }
      // An idle connection does not keep the process alive.
      socket.unref();
      connection.idleSince = Date.now();
      this.idle.push(connection);
    });
  }

  dropIdle(connection: Connection): void {
    const i = this.idle.indexOf(connection);
    if (i !== -1) this.idle.splice(i, 1);
  }

  /** Closes connections idle for too long (the oldest are at the bottom of the stack). */
  sweep(now = Date.now()): void {
    while (this.idle.length > 0 && now - this.idle[0]!.idleSince >= this.idleMs)
      this.idle.shift()!.socket.destroy();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Connections kept idle now (for tests). */
  get idleCount(): number {
    return this.idle.length;
  }

  /** No more reuse: idle connections close now, busy ones when their exchange ends. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }
}

/** A whole request as one buffer, its head (latin1) and a small body, for one write. */
function wholeRequest(head: string, body: Buffer | null): Buffer {
  const bodyLength = body?.length ?? 0;
  const bytes = Buffer.allocUnsafe(head.length + bodyLength);
  bytes.write(head, 0, 'latin1');
  if (bodyLength > 0) body!.copy(bytes, head.length);
  return bytes;
}

/**
 * What a kept-alive connection fails with when the replica closed it as the request went out:
 * reset, a write into a closed socket, or a close before any byte of an answer.
 */
function closedUnder(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'PLINTH_REPLICA_CLOSED';
}

/** Streams a request body onto the connection, with backpressure, chunked when its length is unknown. */
function sendBody(
  body: NodeJS.ReadableStream,
  socket: Socket,
  exchange: ActiveExchange,
  chunked: boolean,
): void {
  const onDrain = (): void => void body.resume();
  const onData = (data: Buffer | string): void => {
    if (exchange.isDone) return;
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    // An empty chunk would read as the end of a chunked body.
    if (chunk.length === 0) return;
    let flowing: boolean;
    if (chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      flowing = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else flowing = socket.write(chunk);
    if (!flowing) body.pause();
  };
  const cleanup = (): void => {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    body.off('close', onClose);
    socket.off('drain', onDrain);
    exchange.stopBody = null;
  };
  const onEnd = (): void => {
    cleanup();
    if (exchange.isDone) return;
    if (chunked) socket.write('0\r\n\r\n', 'latin1');
    exchange.bodySent = true;
  };
  const onError = (err: Error): void => {
    cleanup();
    exchange.fail(err);
  };
  // A body that closes without ending (the client went away) leaves the replica a cut request.
  const onClose = (): void => {
    cleanup();
    exchange.fail(new ConnectionError('the request body ended before it was complete', 'PLINTH_BODY_CUT'));
  };
  exchange.stopBody = cleanup;
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  socket.on('drain', onDrain);
}

/** Connections per replica address, closed when the address is no longer in use. */
export class ReplicaPools {
  private readonly pools = new Map<string, ReplicaConnections>();
  private readonly sweeper: NodeJS.Timeout;

  constructor() {
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const pool of this.pools.values()) pool.sweep(now);
    }, IDLE_MS);
    this.sweeper.unref();
  }

  get(address: string): ReplicaConnections {
    let pool = this.pools.get(address);
    if (!pool) {
      pool = new ReplicaConnections(address);
      this.pools.set(address, pool);
    }
    return pool;
  }

  /** Closes the connections of addresses no longer in use. */
  retain(addresses: ReadonlySet<string>): void {
    for (const [address, pool] of this.pools) {
      if (!addresses.has(address)) {
        this.pools.delete(address);
        pool.close();
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }
}

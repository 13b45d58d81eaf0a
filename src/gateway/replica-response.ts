// Reads a replica's HTTP/1.1 response as it arrives, in whatever pieces the socket gives: the
// status and headers, then the body framed by Content-Length, by chunks, or by the connection's
// end; 1xx interim answers are skipped. Pure (no I/O): the gateway's replica connections feed it
// bytes and hear what they mean. Bounded: a head over 64 KiB, or a chunk-size line over 4 KiB, is
// an error, as is anything that is not HTTP/1.x.

/** What a response means, as it is read. */
export interface ResponseEvents {
  /** The final status and its headers, flat (name, value, name, value…), as sent (latin1). */
  head(status: number, headers: string[]): void;
  /** A piece of the body (chunked framing removed); `last` when the body is known to end with it. */
  body(chunk: Buffer, last: boolean): void;
  /** The response is complete; `reusable`: the connection may carry another request. */
  end(reusable: boolean): void;
}

export class ResponseError extends Error {
  readonly code = 'REPLICA_BAD_RESPONSE';
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE_BYTES = 4096;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

const limitText = (bytes: number): string => (bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} bytes`);

type State =
  'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'done';

export class ResponseReader {
  private state: State = 'head';
  /**
   * Pieces of an unfinished head, chunk-size line or trailer, kept until their end arrives (as
   * pieces: joined once, so a head trickling in byte by byte costs no more than one read whole).
   */
  private kept: Buffer[] = [];
  private keptLength = 0;
  /** The last few kept bytes, where an end that straddles two reads begins. */
  private keptTail: Buffer = EMPTY;
  private remaining = 0;
  private reusable = true;

  /** `noBody`: the request was a HEAD, whose response has headers only. */
  constructor(
    private readonly events: ResponseEvents,
    private readonly noBody = false,
  ) {}

  get complete(): boolean {
    return this.state === 'done';
  }

  /** Whether any final response head has been read. */
  get headRead(): boolean {
    return this.state !== 'head';
  }

  /**
   * The next bytes from the connection. Throws ResponseError on what is not a valid response.
   * `data` may be reused once this returns: what is kept is copied, and the body pieces handed on
   * are views of it, valid while the event runs.
   */
  feed(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case 'head':
          at = this.readHead(data, at);
          break;
        case 'length': {
          const n = Math.min(this.remaining, data.length - at);
          this.remaining -= n;
          const piece = at === 0 && n === data.length ? data : data.subarray(at, at + n);
          at += n;
          const last = this.remaining === 0;
          if (last) this.state = 'done';
          this.events.body(piece, last);
          if (last) this.events.end(this.reusable);
          break;
        }
        case 'chunk-size':
          at = this.readChunkSize(data, at);
          break;
        case 'chunk-data': {
          const n = Math.min(this.remaining, data.length - at);
          this.remaining -= n;
          const piece = data.subarray(at, at + n);
          at += n;
          if (this.remaining === 0) this.state = 'chunk-end';
          this.events.body(piece, false);
          break;
        }
        case 'chunk-end':
          at = this.readChunkEnd(data, at);
          break;
        case 'trailers':
          at = this.readTrailers(data, at);
          break;
        case 'until-close':
          this.events.body(at === 0 ? data : data.subarray(at), false);
          at = data.length;
          break;
        case 'done':
          // A connection not reused (after a HEAD a server may send a body anyway): ignored.
          if (!this.reusable) return;
          // Bytes after a complete response: nothing was asked for them.
          throw new ResponseError('the replica sent bytes after its response ended');
      }
    }
  }

  /** The connection ended: completes a response framed by the end, or throws for a cut one. */
  finish(): void {
    if (this.state === 'until-close') {
      this.state = 'done';
      this.events.end(false);
      return;
    }
    if (this.state !== 'done') {
      throw new ResponseError(
        this.state === 'head' && this.keptLength === 0
          ? 'the replica closed the connection without answering'
          : 'the replica closed the connection in the middle of its response',
      );
    }
  }

  /**
   * Finds `pattern` in what is kept plus `data` from `at`: all bytes up to and with it (joined
   * once) and where `data` goes on after it; or null, keeping `data`, when it has not arrived.
   * Over `limit` bytes before it is an error naming `what`.
   */
  private until(
    pattern: Buffer,
    data: Buffer,
    at: number,
    limit: number,
    what: string,
  ): { bytes: Buffer; end: number; next: number } | null {
    let start = -1;
    let next = -1;
    if (this.keptLength > 0) {
      // The pattern may begin in the kept bytes and end in these.
      const probe = Buffer.concat([this.keptTail, data.subarray(at, at + pattern.length - 1)]);
      const p = probe.indexOf(pattern);
      if (p !== -1) {
        start = this.keptLength - this.keptTail.length + p;
        next = at + p + pattern.length - this.keptTail.length;
      }
    }
    if (start === -1) {
      const i = data.indexOf(pattern, at);
      if (i !== -1) {
        start = this.keptLength + i - at;
        next = i + pattern.length;
      }
    }
    if (start === -1) {
      const piece = data.subarray(at);
      this.keptLength += piece.length;
      if (this.keptLength > limit)
        throw new ResponseError(`the replica sent a ${what} over ${limitText(limit)}`);
      // (Copied: the bytes fed may be reused once feed returns.)
      const copy = Buffer.from(piece);
      this.kept.push(copy);
      const tail = pattern.length - 1;
      this.keptTail =
        copy.length >= tail
          ? copy.subarray(copy.length - tail)
          : Buffer.concat([this.keptTail, copy]).subarray(-tail);
      return null;
    }
    if (start > limit) throw new ResponseError(`the replica sent a ${what} over ${limitText(limit)}`);
    const bytes =
      this.keptLength === 0
        ? data.subarray(at, next)
        : Buffer.concat([...this.kept, data.subarray(at, next)]);
    this.kept = [];
    this.keptLength = 0;
    this.keptTail = EMPTY;
    return { bytes, end: start, next };
  }

  private readHead(data: Buffer, at: number): number {
    const lastKept = this.keptTail.length > 0 ? this.keptTail[this.keptTail.length - 1] : -1;
    const head = this.until(CRLF_CRLF, data, at, MAX_HEAD_BYTES, 'response head');
    // A head with bare LF line endings would never end: it is refused as soon as one arrives.
    const scanned = head ? head.next : data.length;
    for (let i = data.indexOf(0x0a, at); i !== -1 && i < scanned; i = data.indexOf(0x0a, i + 1)) {
      if ((i > at ? data[i - 1] : lastKept) !== 0x0d)
        throw new ResponseError('the replica sent a response head with bare LF line endings');
    }
    if (!head) return data.length;
    this.parseHead(head.bytes, head.end);
    return head.next;
  }

  private parseHead(buf: Buffer, end: number): void {
    // HTTP/1.x SSS reason
    if (
      end < 12 ||
      buf[0] !== 0x48 || // H
      buf[1] !== 0x54 || // T
      buf[2] !== 0x54 || // T
      buf[3] !== 0x50 || // P
      buf[4] !== 0x2f || // /
      buf[5] !== 0x31 || // 1
      buf[6] !== 0x2e || // .
      (buf[7] !== 0x30 && buf[7] !== 0x31) ||
      buf[8] !== 0x20
    )
      throw new ResponseError('the replica did not answer with HTTP/1.x');
    const status = digit(buf[9]!) * 100 + digit(buf[10]!) * 10 + digit(buf[11]!);
    if (!(status >= 100 && status <= 599) || (end > 12 && buf[12] !== 0x20 && buf[12] !== 0x0d))
      throw new ResponseError('the replica answered with an invalid status line');
    const http10 = buf[7] === 0x30;
    const headers: string[] = [];
    let length = -1;
    let chunked = false;
    let transferEncoding = false;
    let close = http10;
    let at = crlf(buf, 0) + 2;
    while (at < end + 2) {
      const eol = crlf(buf, at);
      const colon = buf.indexOf(0x3a, at);
      // (A line folded onto the one before, obsolete since RFC 7230, is refused too.)
      if (colon === -1 || colon > eol || colon === at || buf[at] === 0x20 || buf[at] === 0x09)
        throw new ResponseError('the replica sent a malformed header');
      const name = latin1(buf, at, colon);
      let from = colon + 1;
      let to = eol;
      while (from < to && (buf[from] === 0x20 || buf[from] === 0x09)) from++;
      while (to > from && (buf[to - 1] === 0x20 || buf[to - 1] === 0x09)) to--;
      const value = latin1(buf, from, to);
      at = eol + 2;
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        if (!/^\d{1,15}$/.test(value))
          throw new ResponseError(`the replica sent an invalid Content-Length "${value}"`);
        const n = Number(value);
        if (length !== -1 && length !== n)
          throw new ResponseError('the replica sent two different Content-Lengths');
        // The same length twice is one length (a client would refuse the repeat).
        if (length !== -1) continue;
        length = n;
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        transferEncoding = true;
        chunked = value.toLowerCase().split(',').at(-1)!.trim() === 'chunked';
        if (!chunked) close = true;
      } else if (name.length === 10 && name.toLowerCase() === 'connection') {
        const v = value.toLowerCase();
        if (v.includes('close')) close = true;
        else if (http10 && v.includes('keep-alive')) close = false;
      }
      headers.push(name, value);
    }
    if (status < 200) {
      if (status === 101) throw new ResponseError('the replica switched protocols on a plain request');
      // An interim answer (103 Early Hints, a 100 nobody asked for): the real one follows.
      return;
    }
    // Two framings at once is how one response is smuggled inside another: refused, as llhttp does.
    if (length !== -1 && transferEncoding)
      throw new ResponseError('the replica sent both Transfer-Encoding and Content-Length');
    // After a HEAD, a server that sent a body anyway would leave it for the next request.
    this.reusable = !close && !this.noBody;
    this.events.head(status, headers);
    if (this.noBody || status === 204 || status === 304) {
      this.finishNow();
    } else if (chunked) {
      this.state = 'chunk-size';
    } else if (length !== -1) {
      this.remaining = length;
      if (length === 0) this.finishNow();
      else this.state = 'length';
    } else {
      this.reusable = false;
      this.state = 'until-close';
    }
  }

  private finishNow(): void {
    this.state = 'done';
    this.events.end(this.reusable);
  }

  /** A line ending in CRLF from `at`, or null (kept) when its end has not arrived. */
  private line(data: Buffer, at: number, limit: number, what: string): { text: string; next: number } | null {
    const found = this.until(CRLF, data, at, limit, what);
    return found && { text: latin1(found.bytes, 0, found.end), next: found.next };
  }

  private readChunkSize(data: Buffer, at: number): number {
    const line = this.line(data, at, MAX_CHUNK_LINE_BYTES, 'chunk-size line');
    if (!line) return data.length;
    const hex = line.text.split(';', 1)[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex))
      throw new ResponseError(`the replica sent an invalid chunk size "${hex}"`);
    this.remaining = parseInt(hex, 16);
    this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
    return line.next;
  }

  private readChunkEnd(data: Buffer, at: number): number {
    const line = this.line(data, at, 2, 'chunk ending');
    if (!line) return data.length;
    if (line.text !== '') throw new ResponseError('the replica sent a chunk longer than its size');
    this.state = 'chunk-size';
    return line.next;
  }

  private readTrailers(data: Buffer, at: number): number {
    const line = this.line(data, at, MAX_HEAD_BYTES, 'trailer');
    if (!line) return data.length;
    // Trailers are read and dropped; the empty line ends the response.
    if (line.text === '') this.finishNow();
    return line.next;
  }
}

/** Where the next CRLF starts from `at` (a byte search: the hot path's header lines). */
function crlf(buf: Buffer, at: number): number {
  let i = buf.indexOf(0x0d, at);
  while (i !== -1 && buf[i + 1] !== 0x0a) i = buf.indexOf(0x0d, i + 1);
  return i;
}

/** Bytes as latin1 text, through Buffer's own slice method (toString's argument checks skipped). */
const latin1 = (buf: Buffer, from: number, to: number): string =>
  (buf as unknown as { latin1Slice(from: number, to: number): string }).latin1Slice(from, to);

function digit(byte: number): number {
  return byte >= 0x30 && byte <= 0x39 ? byte - 0x30 : NaN;
}

// Follows a file a replica process writes its output to, line by line: read when the file changes
// (inotify) and on a slow timer besides, from a given offset, so that a restarted server goes on
// where the last one stopped. A file that has grown large is emptied once read to its end (the
// process appends, so it carries on at the new, empty end).
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';

const CHUNK = 64 * 1024;
const POLL_MS = 250;
const TRUNCATE_AT = 64 * 1024 ** 2;

export class OutputTail {
  private readonly fd: number;
  private readonly watcher: FSWatcher | null;
  private readonly timer: NodeJS.Timeout;
  /** Bytes after the last newline: an unfinished line (UTF-8 never has a newline byte inside a character). */
  private pending = Buffer.alloc(0);
  private closed = false;

  constructor(
    path: string,
    private offsetBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly truncateAt = TRUNCATE_AT,
  ) {
    this.fd = openSync(path, 'r+');
    let watcher: FSWatcher | null = null;
    try {
      watcher = watch(path, () => this.read());
      watcher.on('error', () => undefined);
      watcher.unref();
    } catch {
      // No change notifications here: the timer alone reads.
    }
    this.watcher = watcher;
    this.timer = setInterval(() => this.read(), POLL_MS);
    this.timer.unref();
    setImmediate(() => this.read());
  }

  /** How far the file has been passed on (complete lines only). */
  get offset(): number {
    return this.offsetBytes - this.pending.length;
  }

  /** Reads what was appended since the last read and passes on every complete line. */
  read(): void {
    if (this.closed) return;
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(this.fd, buffer, 0, CHUNK, this.offsetBytes);
      if (n === 0) break;
      this.offsetBytes += n;
      const data = Buffer.concat([this.pending, buffer.subarray(0, n)]);
      const end = data.lastIndexOf(0x0a);
      if (end === -1) {
        this.pending = data;
        continue;
      }
      this.pending = Buffer.from(data.subarray(end + 1));
      for (const line of data.toString('utf8', 0, end).split('\n')) this.onLine(line);
    }
    if (
      this.offsetBytes >= this.truncateAt &&
      this.pending.length === 0 &&
      fstatSync(this.fd).size === this.offsetBytes
    ) {
      ftruncateSync(this.fd, 0);
      this.offsetBytes = 0;
    }
  }

  /** Reads to the end, passes on an unfinished last line too, and stops following. */
  close(): void {
    if (this.closed) return;
    this.read();
    if (this.pending.length > 0) this.onLine(this.pending.toString('utf8'));
    this.pending = Buffer.alloc(0);
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.timer);
    closeSync(this.fd);
  }
}

// One file over HTTP into a `.partial` file that a later try resumes (`Range: bytes=N-`; a server
// answering 200 instead of 206 restarts it from the start). The size is checked against what the
// source said (the listing, Content-Length, Content-Range); a download that stalls (no byte for
// `stallMs`, or trickles under 16 KiB/s for minutes) is aborted, and no file grows past `maxBytes` (a source that announces no size cannot
// fill the disk). A full disk removes the partial file and says so (ENOSPC). Every failure names the
// URL, the HTTP status (when there was one) and the file.
import { createWriteStream, rmSync, statSync, truncateSync } from 'node:fs';
import { once } from 'node:events';

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export interface DownloadOptions {
  /** Who asked, for messages: `model_cache[0] (hf://org/repo@main): config.json`. */
  file: string;
  /** The size the source announced, if it did (the hub's listing). */
  expectedSize: number | null;
  token: string | null;
  /** Aborted when no byte arrived for this long. */
  stallMs: number;
  /** Told each chunk's length as it is written. */
  onBytes?: (n: number) => void;
  /** The most bytes one file may have (default: MAX_FILE_BYTES). */
  maxBytes?: number;
}

/** Slower than this on average, after the first SLOW_AFTER_MS, a download is given up (a trickle holds no build). */
const MIN_BYTES_PER_S = 16 * 1024;
const SLOW_AFTER_MS = 5 * 60_000;

/** The largest file a download may write: `PLINTH_WEIGHTS_MAX_FILE_BYTES`, else 200 GiB. */
export const MAX_FILE_BYTES = Number(process.env.PLINTH_WEIGHTS_MAX_FILE_BYTES) || 200 * 1024 ** 3;

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Downloads `url` into `partial` (resuming what is there); resolves with the complete size. */
export async function downloadResumable(
  url: string,
  partial: string,
  options: DownloadOptions,
): Promise<number> {
  const { file, expectedSize } = options;
  let have = sizeOf(partial);
  if (expectedSize !== null && have > expectedSize) {
    truncateSync(partial, 0);
    have = 0;
  }
  if (expectedSize !== null && have === expectedSize && have > 0) return have;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new Error(`no data for ${options.stallMs / 1000} s`)),
      options.stallMs,
    );
  };
  arm();
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (have > 0) headers.range = `bytes=${have}-`;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: controller.signal, redirect: 'follow' });
  } catch (err) {
    clearTimeout(timer);
    const reason = controller.signal.aborted
      ? (controller.signal.reason as Error).message
      : (err as Error).message;
    throw new DownloadError(`${file}: GET ${url} failed: ${reason}`, null);
  }
  try {
    if (res.status === 416 && have > 0) {
      // Nothing past what we have: complete if no size says otherwise, else start over.
      await res.body?.cancel();
      if (expectedSize === null || expectedSize === have) return have;
      truncateSync(partial, 0);
      throw new DownloadError(`${file}: GET ${url} answered HTTP 416 to a resume at byte ${have}`, 416);
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      const hint = res.status === 401 || res.status === 403 ? ' (set the secret holding a token for it)' : '';
      throw new DownloadError(`${file}: GET ${url} answered HTTP ${res.status}${hint}`, res.status);
    }
    let start = 0;
    let total: number | null = null;
    if (res.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== have) {
        // A range other than the one asked for: start over.
        await res.body?.cancel();
        truncateSync(partial, 0);
        throw new DownloadError(
          `${file}: GET ${url} answered a range other than bytes=${have}-; it starts over`,
          206,
        );
      }
      start = have;
      total = range[3] === '*' ? null : Number(range[3]);
    } else {
      const length = res.headers.get('content-length');
      total = length === null ? null : Number(length);
    }
    if (expectedSize !== null && total !== null && total !== expectedSize) {
      await res.body?.cancel();
      throw new DownloadError(
        `${file}: GET ${url} is ${total} bytes; the source said ${expectedSize}`,
        res.status,
      );
    }
    const maxBytes = options.maxBytes ?? MAX_FILE_BYTES;
    if ((expectedSize ?? total ?? 0) > maxBytes) {
      await res.body?.cancel();
      throw new DownloadError(
        `${file}: GET ${url} is ${expectedSize ?? total} bytes, over the ${maxBytes}-byte limit (PLINTH_WEIGHTS_MAX_FILE_BYTES)`,
        res.status,
      );
    }
    const out = createWriteStream(partial, start > 0 ? { flags: 'a' } : { flags: 'w' });
    // A write that fails (a full disk) is kept here and thrown by the loop, never left unheard.
    let writeError: NodeJS.ErrnoException | null = null;
    out.on('error', (err) => (writeError ??= err));
    let written = start;
    const startedMs = Date.now();
    try {
      for await (const chunk of res.body ?? []) {
        arm();
        if (writeError) throw writeError;
        const elapsedMs = Date.now() - startedMs;
        if (elapsedMs > SLOW_AFTER_MS && ((written - start) * 1000) / elapsedMs < MIN_BYTES_PER_S)
          throw new DownloadError(
            `${file}: GET ${url} is sending under ${MIN_BYTES_PER_S / 1024} KiB/s; the next try resumes`,
            res.status,
          );
        const buf = chunk as Uint8Array;
        written += buf.length;
        if ((expectedSize ?? total) !== null && written > (expectedSize ?? total)!)
          throw new DownloadError(
            `${file}: GET ${url} sent more than the ${expectedSize ?? total} bytes announced`,
            res.status,
          );
        if (written > maxBytes)
          throw new DownloadError(
            `${file}: GET ${url} sent more than ${maxBytes} bytes (PLINTH_WEIGHTS_MAX_FILE_BYTES)`,
            res.status,
          );
        if (!out.write(buf)) await once(out, 'drain');
        options.onBytes?.(buf.length);
      }
      out.end();
      await once(out, 'close').catch(() => undefined);
      if (writeError) throw writeError;
    } catch (err) {
      if (writeError ?? (err as NodeJS.ErrnoException).code === 'ENOSPC') {
        const cause = (writeError ?? err) as NodeJS.ErrnoException;
        out.destroy();
        // What did not fit is no use to a resume: its space goes back now.
        if (cause.code === 'ENOSPC') rmSync(partial, { force: true });
        throw new DownloadError(
          `${file}: GET ${url}: writing ${partial} failed: ${cause.message}`,
          res.status,
        );
      }
      if (err instanceof DownloadError) throw err;
      const reason = controller.signal.aborted
        ? (controller.signal.reason as Error).message
        : (err as Error).message;
      throw new DownloadError(
        `${file}: GET ${url} stopped after ${written} bytes (${reason}); the next try resumes`,
        res.status,
      );
    } finally {
      if (!out.closed) {
        out.end();
        await once(out, 'close').catch(() => undefined);
      }
    }
    const want = expectedSize ?? total;
    if (want !== null && written !== want)
      throw new DownloadError(
        `${file}: GET ${url} ended after ${written} of ${want} bytes; the next try resumes`,
        res.status,
      );
    return written;
  } finally {
    clearTimeout(timer);
  }
}

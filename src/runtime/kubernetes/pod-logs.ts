// Follows a pod container's output through the API (`pods/{name}/log?follow=true`), line by line,
// so that what a model prints reaches the platform's logs as it does from a local replica. Lines are
// cut from bytes and decoded whole (a character split between chunks stays whole), and a line is
// held to MAX_LINE_BYTES: a longer one is passed on in pieces, so output without newlines cannot
// grow without bound.
import { Writable } from 'node:stream';
import { Log } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { readMark } from '../replica-log-mark.ts';

export const MAX_LINE_BYTES = 64 * 1024;

/** Splits a byte stream into lines of whole UTF-8 characters, none longer than `maxBytes`. */
export class LineBuffer {
  private rest: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes = MAX_LINE_BYTES) {}

  /** The lines `chunk` completes. */
  push(chunk: Buffer): string[] {
    let buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const lines: string[] = [];
    for (;;) {
      const newline = buf.indexOf(0x0a);
      if (newline !== -1 && newline <= this.maxBytes) {
        lines.push(decodeLine(buf.subarray(0, newline)));
        buf = buf.subarray(newline + 1);
      } else if (buf.length > this.maxBytes) {
        const cut = characterStart(buf, this.maxBytes);
        lines.push(decodeLine(buf.subarray(0, cut)));
        buf = buf.subarray(cut);
      } else break;
    }
    // A copy: the chunk it came from is not kept alive by a few bytes of it.
    this.rest = Buffer.from(buf);
    return lines;
  }

  /** What is left once the stream has ended: its last line, if it had no newline. */
  end(): string[] {
    const last = this.rest.length ? [decodeLine(this.rest)] : [];
    this.rest = Buffer.alloc(0);
    return last;
  }
}

function decodeLine(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/\r$/, '');
}

/** The last index at or before `at` where a UTF-8 character starts (not a continuation byte). */
function characterStart(buf: Buffer, at: number): number {
  let i = at;
  while (i > 0 && (buf[i]! & 0xc0) === 0x80) i--;
  return i === 0 ? at : i;
}

/**
 * What a replica's model prints, from its pod's model container: each line with the request it was
 * printed for read off its mark; the server's own "listening" line is left out.
 */
export function followModelOutput(
  kubeConfig: KubeConfig,
  where: { namespace: string; pod: string; container: string },
  sinceTime: string | undefined,
  onLine: (text: string, requestId: string | null) => void,
): () => void {
  return followPodLog(kubeConfig, where, sinceTime, (line) => {
    if (line.startsWith('plinth: listening on ')) return;
    const { requestId, text } = readMark(line);
    onLine(text, requestId);
  });
}

export function followPodLog(
  kubeConfig: KubeConfig,
  where: { namespace: string; pod: string; container: string },
  /** Only what was printed from then on (RFC 3339), e.g. for a pod another control plane followed. */
  sinceTime: string | undefined,
  onLine: (line: string) => void,
): () => void {
  const lines = new LineBuffer();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of lines.push(chunk)) onLine(line);
      done();
    },
    final(done) {
      for (const line of lines.end()) onLine(line);
      done();
    },
  });
  let abort: AbortController | null = null;
  let stopped = false;
  new Log(kubeConfig)
    .log(where.namespace, where.pod, where.container, sink, {
      follow: true,
      ...(sinceTime ? { sinceTime } : {}),
    })
    .then(
      (controller) => {
        abort = controller;
        if (stopped) controller.abort();
      },
      (err: Error) => {
        if (!stopped)
          console.error(`kubernetes backend: cannot follow the output of pod ${where.pod}: ${err.message}`);
      },
    );
  return () => {
    stopped = true;
    abort?.abort();
  };
}

// Follows a pod container's output through the API (`pods/{name}/log?follow=true`), line by line,
// so that what a model prints reaches the platform's logs as it does from a local replica.
import { Writable } from 'node:stream';
import { Log } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

export function followPodLog(
  kubeConfig: KubeConfig,
  where: { namespace: string; pod: string; container: string },
  /** Only what was printed from then on (RFC 3339), e.g. for a pod another control plane followed. */
  sinceTime: string | undefined,
  onLine: (line: string) => void,
): () => void {
  let rest = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      rest += chunk.toString('utf8');
      let i: number;
      while ((i = rest.indexOf('\n')) !== -1) {
        onLine(rest.slice(0, i).replace(/\r$/, ''));
        rest = rest.slice(i + 1);
      }
      done();
    },
    final(done) {
      if (rest) onLine(rest);
      rest = '';
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

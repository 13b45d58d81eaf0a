// Parses config.yaml in a worker thread with a deadline and a memory bound: the server parses
// every pushed bundle's config, and a hostile one (huge, deeply nested, expanding) must never stall
// the event loop that serves other requests. A refusal is the same INVALID_CONFIG error as parse.ts's.
import { checkConfigSize } from './parse.ts';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isFresh } from '../../bin/dist-freshness.mjs';
import { PlinthError } from '../domain/errors.ts';
import type { ErrorCode } from '../domain/errors.ts';
import { packageRoot } from '../package-root.ts';
import type { ParsedConfig } from './parse.ts';

/** The worker's code: its bundle in dist/ when fresh, else the TypeScript source through tsx. */
function workerCode(): { code: string | URL; eval: boolean } {
  const root = packageRoot();
  const bundle = join(root, 'dist', 'config-worker.mjs');
  if (isFresh(bundle, join(root, 'src'))) return { code: pathToFileURL(bundle), eval: false };
  const source = pathToFileURL(join(root, 'src', 'config', 'parse-worker.ts')).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return {
    code: `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}); })`,
    eval: true,
  };
}

export function parseConfigOffThread(
  text: string,
  file = 'config.yaml',
  timeoutMs = 10_000,
): Promise<ParsedConfig> {
  // Too big is refused here, before a copy of it goes to a worker.
  try {
    checkConfigSize(Buffer.byteLength(text), file);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  const entry = workerCode();
  const worker = new Worker(entry.code, {
    eval: entry.eval,
    workerData: { text, file },
    resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 32 },
  });
  return new Promise<ParsedConfig>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(
        new PlinthError(
          'INVALID_CONFIG',
          `${file}: took longer than ${timeoutMs / 1000} s to read; it is refused`,
        ),
      );
    }, timeoutMs);
    worker.once(
      'message',
      (m: { ok: true; parsed: ParsedConfig } | { ok: false; code: ErrorCode; message: string }) => {
        clearTimeout(timer);
        void worker.terminate();
        if (m.ok) resolve(m.parsed);
        else reject(new PlinthError(m.code, m.message));
      },
    );
    worker.once('error', (err) => {
      clearTimeout(timer);
      // Out of memory (resourceLimits) or a crash: the file is refused, the server goes on.
      reject(new PlinthError('INVALID_CONFIG', `${file}: cannot be read (${err.message})`));
    });
  });
}

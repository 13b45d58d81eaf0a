// The body of a worker thread that parses one config.yaml (config/parse-off-thread.ts starts it),
// so that a hostile file costs that thread, never the server's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { isPlinthError } from '../domain/errors.ts';
import { parseConfig } from './parse.ts';

const { text, file } = workerData as { text: string; file: string };
try {
  parentPort!.postMessage({ ok: true, parsed: parseConfig(text, file) });
} catch (err) {
  parentPort!.postMessage(
    isPlinthError(err)
      ? { ok: false, code: err.code, message: err.message }
      : { ok: false, code: 'INVALID_CONFIG', message: `${file}: cannot be read (${(err as Error).message})` },
  );
}

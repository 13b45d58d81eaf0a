// Polls a replica's readiness route until it answers: the model server's `GET /v1/models/model`
// (200), or a custom server's own readiness or liveness endpoint (any 2xx). Both backends use it.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'node:http';

/** The model server's readiness route. */
export const MODEL_READY_PATH = '/v1/models/model';

export function probeReady(address: string, timeoutMs = 2000, path = MODEL_READY_PATH): Promise<boolean> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        socketPath: port === undefined ? host : undefined,
        path,
        method: 'GET',
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(path === MODEL_READY_PATH ? status === 200 : status >= 200 && status < 300);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export function splitAddress(address: string): [string, number | undefined] {
  const i = address.lastIndexOf(':');
  if (address.startsWith('/') || i === -1) return [address, undefined];
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

export async function waitUntilReady(
  address: string,
  options: { intervalMs: number; stillWanted: () => boolean; path?: string; maxIntervalMs?: number },
): Promise<boolean> {
  let interval = options.intervalMs;
  while (options.stillWanted()) {
    if (await probeReady(address, 2000, options.path)) return true;
    await sleep(interval);
    interval = Math.min(interval * 1.25, options.maxIntervalMs ?? 250);
  }
  return false;
}

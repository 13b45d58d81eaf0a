// Polls a replica's readiness route (`GET /v1/models/model`) until it answers 200. Both backends
// use it: a local replica's process and a pod's model server answer the same route.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'node:http';

export function probeReady(address: string, timeoutMs = 2000): Promise<boolean> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        socketPath: port === undefined ? host : undefined,
        path: '/v1/models/model',
        method: 'GET',
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
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
  options: { intervalMs: number; stillWanted: () => boolean },
): Promise<boolean> {
  let interval = options.intervalMs;
  while (options.stillWanted()) {
    if (await probeReady(address)) return true;
    await sleep(interval);
    interval = Math.min(interval * 1.25, 250);
  }
  return false;
}

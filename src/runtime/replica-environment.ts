// Tells a running model server which environment its deployment now serves, after a promotion
// moved it there: the model's `setup_environment()` runs again, without a restart. A replica that
// cannot be told (gone, busy past the timeout) is only logged: its next start reads the store.
import { request } from 'node:http';
import { splitAddress } from './readiness.ts';
import type { ReplicaHandle } from './backend.ts';

/** The model server's route for it (server.py; answers only with the replica's token). */
export const ENVIRONMENT_PATH = '/v1/environment';

/** Resolves to the status the replica answered, or an error's message. */
export function tellEnvironment(
  replica: Pick<ReplicaHandle, 'address' | 'token'>,
  environment: string | null,
  timeoutMs = 10_000,
): Promise<number | string> {
  const [host, port] = splitAddress(replica.address!);
  const body = JSON.stringify({ environment: environment === null ? null : { name: environment } });
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        socketPath: port === undefined ? host : undefined,
        path: ENVIRONMENT_PATH,
        method: 'POST',
        timeout: timeoutMs,
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(replica.token ? { 'x-plinth-replica-token': replica.token } : {}),
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(err.message));
    req.end(body);
  });
}

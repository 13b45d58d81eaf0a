// Starts Plinth's Python model server directly, as a replica without a standby is (its venv's
// python, PLINTH_* settings), and times it from spawn to ready. Shared by the Python benches.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO } from './platform.ts';

export const MODEL_SERVER = join(REPO, 'src', 'replica', 'python', 'server.py');

export interface StartedServer {
  pid: number;
  address: string;
  readyMs: number;
  /** SIGTERM; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts `server` (today's model server unless given) on `appDir`'s model; resolves once ready. */
export async function startPythonServer(
  python: string,
  appDir: string,
  config: object,
  server = MODEL_SERVER,
): Promise<StartedServer> {
  const t0 = performance.now();
  const child = spawn(python, ['-u', server], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      PATH: process.env.PATH,
      PLINTH_APP_DIR: appDir,
      PLINTH_MODEL_FILE: 'model/model.py',
      PLINTH_CONFIG_JSON: JSON.stringify(config),
      PLINTH_LISTEN: '0',
    },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      const m = /listening on (\S+)/.exec(c.toString());
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`${server} exited before it listened`)));
  });
  const ready = (): Promise<boolean> =>
    fetch(`http://${address}/v1/models/model`).then(
      (r) => r.ok,
      () => false,
    );
  while (!(await ready())) await sleep(5);
  return {
    pid: child.pid!,
    address,
    readyMs: performance.now() - t0,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

// The SQLite world: one `plinth up` (local runtime) whose home sits on a small tmpfs when this
// machine allows mounting one (so that the run can fill its disk), clients calling it directly.
// Its faults: SIGKILL the server and start it again on the same home and port; fill the disk.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../support/wait.ts';
import { freePort } from '../support/free-port.ts';
import { callApi, PlatformProcess, platformEnv, readApiKey, runCli } from './cluster.ts';
import { emptyDisk, fillDisk, mountSmallDisk, unmount } from '../support/small-disk.ts';
import { killRunProcesses } from './teardown.ts';
import { Timeline } from './records.ts';
import type { Crash } from './records.ts';
import { applied, failed, pushFirstVersions, skipped } from './world.ts';
import type { ModelDir, OpOutcome, World } from './world.ts';

const DISK_MB = 384;

export async function startSqliteWorld(
  scratch: string,
  modelNames: string[],
  log: (line: string) => void,
): Promise<World> {
  const home = join(scratch, 'home');
  mkdirSync(home, { recursive: true });
  const notes: string[] = [];
  const mountProblem = await mountSmallDisk(home, DISK_MB);
  if (mountProblem) {
    notes.push(`disk-full is skipped on this machine: ${mountProblem}`);
    log(`note: ${notes.at(-1)}`);
  }
  const crashes: Crash[] = [];
  const timeline = new Timeline();
  const port = await freePort();
  const platformPids = new Set<number>();
  const server = new PlatformProcess({
    role: 'server',
    port,
    args: ['up', '--port', String(port), '--home', home],
    env: platformEnv(home),
    crashes,
    readyPattern: /Plinth is running at/,
    pids: platformPids,
  });
  const models: ModelDir[] = modelNames.map((name) => ({ name, dir: join(scratch, name), nextVersion: 1 }));
  let apiKey = '';
  let disposed = false;

  const world: World = {
    store: 'sqlite',
    home,
    get apiKey() {
      return apiKey;
    },
    models,
    platformPids,
    timeline,
    crashes,
    notes,
    targets: [{ name: 'server', process: () => server }],
    background: new Set(),
    api: (method, path, body) => callApi(server.url, apiKey, method, path, body),
    replicaApi: (method, path) => callApi(server.url, apiKey, method, path),
    cli: (args) => runCli(args, server.url, apiKey, home),
    processes: () => [server],
    controlPlanes: () => [server],

    async killServer(downMs: number): Promise<OpOutcome> {
      if (timeline.isOpen('disk-full'))
        return skipped('the disk is full (a start could not write its store)');
      if (!server.alive()) return skipped('the server is down');
      const close = timeline.open({
        kind: 'process-down',
        process: 'server',
        fromMs: Date.now(),
        toMs: Number.MAX_SAFE_INTEGER,
        why: 'SIGKILL',
      });
      await server.kill('SIGKILL');
      await sleep(downMs);
      const started = Date.now();
      try {
        await server.start();
      } catch (err) {
        close();
        return failed(`the server did not start again: ${(err as Error).message}`);
      }
      close();
      return applied(`server SIGKILLed, down ${downMs} ms, started again in ${Date.now() - started} ms`);
    },

    async diskFull(holdMs: number): Promise<OpOutcome> {
      if (mountProblem) return skipped('no small disk on this machine');
      if (timeline.isOpen('disk-full')) return skipped('the disk is full already');
      if (!server.alive()) return skipped('the server is down');
      const close = timeline.open({ kind: 'disk-full', fromMs: Date.now(), toMs: Number.MAX_SAFE_INTEGER });
      let bytes = 0;
      try {
        bytes = fillDisk(home);
      } catch (err) {
        emptyDisk(home);
        close();
        return failed(`could not fill the disk: ${(err as Error).message}`);
      }
      const held = (async () => {
        await sleep(holdMs);
        emptyDisk(home);
        close();
      })();
      world.background.add(held);
      void held.finally(() => world.background.delete(held));
      return applied(`disk full (${(bytes / 1024 ** 2).toFixed(0)} MB filler) for ${holdMs} ms`);
    },

    async stop() {
      await server.stop();
    },

    async dispose() {
      if (disposed) return;
      disposed = true;
      await server.kill('SIGKILL');
      await killRunProcesses(platformPids, home);
      emptyDisk(home);
      if (!mountProblem) await unmount(home);
      rmSync(scratch, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
    apiKey = readApiKey(home);
    await pushFirstVersions(world);
  } catch (err) {
    await world.dispose();
    throw err;
  }
  return world;
}

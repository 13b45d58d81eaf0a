// The PostgreSQL world: two `plinth up --store` control planes on one home (the first leads) and
// a `plinth gateway`, each reaching PostgreSQL through a TCP cutter of its own. Clients call
// through the gateway and through the follower. Its faults: SIGKILL the leader (the follower
// takes over; the killed one comes back as a follower), and cut one process off its store for a
// few seconds (a leader cut off stops itself by design, and is started again like a supervisor would).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase } from '../support/postgres-database.ts';
import type { TestDatabase } from '../support/postgres-database.ts';
import { freePort } from '../support/free-port.ts';
import { startTcpCutter } from '../support/tcp-cutter.ts';
import type { TcpCutter } from '../support/tcp-cutter.ts';
import { sleep, until } from '../support/wait.ts';
import { callApi, PlatformProcess, platformEnv, readApiKey, runCli } from './cluster.ts';
import type { Incarnation } from './cluster.ts';
import { FOREVER, Timeline } from './records.ts';
import type { Crash } from './records.ts';
import { killRunProcesses } from './teardown.ts';
import { applied, failed, pushFirstVersions, skipped } from './world.ts';
import type { ModelDir, OpOutcome, World } from './world.ts';

const LEADS = /Control plane: leading|Leading the control plane now/;
const LOST_LOCK = /Lost the control-plane lock/;
/** How long after an outage of its store a control plane may still stop itself for it. */
const LOST_LOCK_GRACE_MS = 15_000;

export async function startPostgresWorld(
  scratch: string,
  modelNames: string[],
  _log: (line: string) => void,
): Promise<World> {
  const home = join(scratch, 'home');
  mkdirSync(home, { recursive: true });
  const crashes: Crash[] = [];
  const timeline = new Timeline();
  const platformPids = new Set<number>();
  const models: ModelDir[] = modelNames.map((name) => ({ name, dir: join(scratch, name), nextVersion: 1 }));
  const cutters = new Map<string, TcpCutter>();
  let database: TestDatabase | undefined;
  let apiKey = '';
  let disposed = false;
  const processes: PlatformProcess[] = [];

  // A control plane that lost its lock during (or just after) an outage of its own store stops
  // itself by design (leadership.ts): that exit is the outage's doing, not a crash.
  const lostLockInOutage = (p: PlatformProcess, inc: Incarnation): boolean =>
    LOST_LOCK.test(inc.output) &&
    timeline.events.some(
      (e) =>
        e.kind === 'store-outage' &&
        e.process === p.role &&
        (e.toMs === FOREVER || e.toMs + LOST_LOCK_GRACE_MS >= (inc.exitedAtMs ?? 0)),
    );

  const leads = (p: PlatformProcess): boolean => p.alive() && LEADS.test(p.output());
  const planes = (): PlatformProcess[] => processes.filter((p) => p.role.startsWith('plane'));
  const leader = (): PlatformProcess | undefined => planes().find(leads);
  const follower = (): PlatformProcess | undefined => planes().find((p) => p.alive() && !leads(p));
  const gateway = (): PlatformProcess => processes.find((p) => p.role === 'gateway')!;

  /** The API of a live control plane, the follower first; the other when that one does not answer. */
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const order = [follower(), leader()].filter((p): p is PlatformProcess => p !== undefined);
    let answer = await callApi<T>(order[0]?.url ?? 'http://127.0.0.1:1', apiKey, method, path, body);
    if (answer.status === 0 && order[1]) answer = await callApi<T>(order[1].url, apiKey, method, path, body);
    return answer;
  };

  const restart = async (p: PlatformProcess, downSinceMs: number, why: string): Promise<string | null> => {
    const close = timeline.open({
      kind: 'process-down',
      process: p.role,
      fromMs: downSinceMs,
      toMs: FOREVER,
      why,
    });
    try {
      await p.start();
      return null;
    } catch (err) {
      return (err as Error).message;
    } finally {
      close();
    }
  };

  const world: World = {
    store: 'postgres',
    home,
    get apiKey() {
      return apiKey;
    },
    models,
    platformPids,
    timeline,
    crashes,
    notes: [],
    targets: [
      { name: 'gateway', process: () => gateway() },
      { name: 'follower', process: () => follower() ?? leader() ?? null },
    ],
    background: new Set(),
    api,
    replicaApi: (method, path) =>
      callApi((leader() ?? follower())?.url ?? 'http://127.0.0.1:1', apiKey, method, path),
    cli: (args) => runCli(args, (follower() ?? leader())?.url ?? 'http://127.0.0.1:1', apiKey, home),
    processes: () => processes,
    controlPlanes: () => planes(),

    async killLeader(): Promise<OpOutcome> {
      if (timeline.isOpen('store-outage')) return skipped('a store outage is under way');
      const victim = leader();
      const other = follower();
      if (!victim || !other) return skipped('not two control planes up');
      const since = other.output().length;
      const close = timeline.open({
        kind: 'process-down',
        process: victim.role,
        fromMs: Date.now(),
        toMs: FOREVER,
        why: 'SIGKILL',
      });
      const killedAt = Date.now();
      await victim.kill('SIGKILL');
      let took = '';
      try {
        await until(
          'the follower leads',
          () => /Leading the control plane now/.test(other.output().slice(since)),
          Boolean,
          20_000,
          50,
        );
        took = `${other.role} led after ${Date.now() - killedAt} ms`;
      } catch {
        took = `${other.role} did not lead within 20 s`;
      }
      close();
      const problem = await restart(victim, Date.now(), 'restarting');
      if (problem)
        return failed(`${victim.role} (leader) SIGKILLed; ${took}; it did not start again: ${problem}`);
      return (took.includes('did not') ? failed : applied)(
        `${victim.role} (leader) SIGKILLed; ${took}; it is back, following`,
      );
    },

    async storeOutage(variant: number, holdMs: number): Promise<OpOutcome> {
      if (timeline.isOpen('store-outage')) return skipped('a store outage is under way');
      if (timeline.isOpen('process-down') || planes().some((p) => !p.alive()))
        return skipped('a control plane is down');
      const which = variant < 2 ? 'gateway' : variant < 4 ? 'follower' : 'leader';
      const p = which === 'gateway' ? gateway() : which === 'follower' ? follower() : leader();
      if (!p) return skipped(`no ${which}`);
      const cutter = cutters.get(p.role)!;
      const close = timeline.open({
        kind: 'store-outage',
        process: p.role,
        fromMs: Date.now(),
        toMs: FOREVER,
      });
      cutter.cut();
      const held = (async () => {
        await sleep(holdMs);
        cutter.restore();
        close();
        if (p.alive()) return;
        // It stopped itself (a leader that lost its lock): started again, as a supervisor would.
        const problem = await restart(p, p.current?.exitedAtMs ?? Date.now(), 'lost its lock');
        if (problem)
          crashes.push({
            process: p.role,
            atMs: Date.now(),
            code: null,
            signal: null,
            outputTail: `did not start again after the outage: ${problem}`,
          });
      })();
      world.background.add(held);
      void held.finally(() => world.background.delete(held));
      return applied(`${p.role} (${which}) cut off PostgreSQL for ${holdMs} ms`);
    },

    async stop() {
      await gateway().stop();
      const f = follower();
      if (f) await f.stop();
      for (const p of planes()) await p.stop();
    },

    async dispose() {
      if (disposed) return;
      disposed = true;
      for (const p of processes) await p.kill('SIGKILL');
      await killRunProcesses(platformPids, home);
      for (const c of cutters.values()) await c.close();
      await database?.drop().catch(() => undefined);
      rmSync(scratch, { recursive: true, force: true });
    },
  };

  try {
    database = await createTestDatabase();
    const pg = new URL(database.url);
    const via = async (role: string): Promise<string> => {
      const cutter = await startTcpCutter(pg.hostname, Number(pg.port));
      cutters.set(role, cutter);
      const url = new URL(database!.url);
      url.port = String(cutter.port);
      return url.toString();
    };
    for (const role of ['plane-a', 'plane-b']) {
      const port = await freePort();
      const p = new PlatformProcess({
        role,
        port,
        args: ['up', '--port', String(port), '--home', home, '--store', await via(role)],
        env: platformEnv(home),
        crashes,
        readyPattern: /Control plane: (leading|following)/,
        pids: platformPids,
      });
      p.excuse = lostLockInOutage;
      processes.push(p);
      await p.start();
    }
    const gatewayPort = await freePort();
    const g = new PlatformProcess({
      role: 'gateway',
      port: gatewayPort,
      args: ['gateway', '--port', String(gatewayPort), '--store', await via('gateway')],
      env: platformEnv(null),
      crashes,
      readyPattern: /serving inference at/,
      pids: platformPids,
    });
    processes.push(g);
    await g.start();
    apiKey = readApiKey(home);
    await pushFirstVersions(world);
  } catch (err) {
    await world.dispose();
    throw err;
  }
  return world;
}

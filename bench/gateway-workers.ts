// The `--gateway-workers` table of `npm run bench:gateway -- --gateway-workers 1,2,4`: for each
// worker count W, `plinth gateway --gateway-workers W` and nginx with `worker_processes W` in front
// of the same replica, at each concurrency, with the CPU each proxy spent per request (the gateway's
// summed over its primary and workers; nginx's over its master and workers). The platform runs on
// a fresh PostgreSQL database on the tests' server (dropped after). The gateway measured is a
// `plinth gateway` beside the control plane rather than `plinth up` itself: each worker count is a
// fresh process group in front of the one replica, and no control loop shares its CPU; its workers
// are the same code as `plinth up`'s.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase } from '../test/support/postgres-database.ts';
import { startNginxProxy } from './nginx.ts';
import { BIN, REPO, startBenchPlatform } from './platform.ts';
import { processTree, totalCpuSeconds } from './process-cpu.ts';
import { runWrk } from './wrk.ts';
import type { WrkResult } from './wrk.ts';

interface GatewayProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startGateway(store: string, workers: number): Promise<GatewayProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, 'gateway', '--store', store, '--port', '0', '--gateway-workers', String(workers)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /serving inference at (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`plinth gateway exited ${code}: ${out}`)));
  });
  return {
    url,
    pid: child.pid!,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs wrk against `url` (after a warm-up) and the CPU the processes under `rootPid` spent per request. */
function measure(
  wrk: string,
  url: string,
  connections: number,
  durationS: number,
  headers: string[],
  rootPid: number,
): WrkResult & { cpuUs: number } {
  runWrk(wrk, url, connections, 1, headers);
  const pids = processTree(rootPid);
  const before = totalCpuSeconds(pids);
  const r = runWrk(wrk, url, connections, durationS, headers);
  return { ...r, cpuUs: ((totalCpuSeconds(pids) - before) / (r.rps * durationS)) * 1e6 };
}

export async function gatewayWorkersTable(options: {
  wrk: string;
  nginx: string;
  workerCounts: readonly number[];
  concurrencies: readonly number[];
  durationS: number;
}): Promise<void> {
  const database = await createTestDatabase();
  const platform = await startBenchPlatform(['--store', database.url]);
  try {
    const { json } = platform.push(join(REPO, 'bench', 'models', 'echo'));
    const { replicas } = await platform.api<{ replicas: { id: string; address: string }[] }>(
      `/v1/models/${json.model_id}/deployments/${json.deployment_id}/replicas`,
    );
    const replica = replicas[0]!;
    // nginx calls the replica as a gateway does: with its token, read from the store.
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    const token = (
      await db.query<{ token: string | null }>('SELECT token FROM replicas WHERE id = $1', [replica.id])
    ).rows[0]?.token;
    await db.end();
    const nginxHeaders = token ? [`x-plinth-replica-token: ${token}`] : [];
    const gatewayHeaders = [`Authorization: Api-Key ${platform.apiKey}`];
    const rows: string[] = [];
    for (const workers of options.workerCounts) {
      const gateway = await startGateway(database.url, workers);
      const proxy = await startNginxProxy(
        options.nginx,
        replica.address,
        '/v1/models/model:predict',
        workers,
      );
      try {
        const predict = `${gateway.url}/models/${json.model_id}/environments/production/predict`;
        for (const c of options.concurrencies) {
          const g = measure(options.wrk, predict, c, options.durationS, gatewayHeaders, gateway.pid);
          const n = measure(options.wrk, proxy.url, c, options.durationS, nginxHeaders, proxy.pid);
          rows.push(
            [
              String(workers).padStart(7),
              String(c).padStart(3),
              g.rps.toFixed(0).padStart(11),
              n.rps.toFixed(0).padStart(9),
              `${((g.rps / n.rps) * 100).toFixed(0)}%`.padStart(8),
              g.cpuUs.toFixed(1).padStart(12),
              n.cpuUs.toFixed(1).padStart(10),
              g.p50Ms.toFixed(3).padStart(9),
              n.p50Ms.toFixed(3).padStart(9),
              String(g.errors + n.errors).padStart(6),
            ].join(' | '),
          );
        }
      } finally {
        await proxy.stop();
        await gateway.stop();
      }
    }
    console.log(
      'workers |   c | gateway r/s | nginx r/s | of nginx | gateway µs/r | nginx µs/r | gw p50 ms | ngx p50 ms | errors',
    );
    for (const row of rows) console.log(row);
    console.log('(µs/r: CPU per request of the proxy, summed over all its processes)');
  } finally {
    await platform.stop();
    await database.drop();
  }
}

// Gateway overhead: p50/p99 latency and requests/s calling one replica directly, through the
// Plinth gateway, and through nginx as a reverse proxy, at concurrency 1, 16 and 64 — one run,
// same machine, same replica, with the CPU each side spent per request (µs).  Run: npm run bench:gateway [-- --duration 5]
// With `--gateway-workers 1,2,4` it measures instead the gateway with that many processes against
// nginx with as many workers, at c=16 and c=64 (bench/gateway-workers.ts; needs the tests' PostgreSQL).
import Database from 'better-sqlite3';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { gatewayWorkersTable } from './gateway-workers.ts';
import { startNginxProxy } from './nginx.ts';
import { ensureTool, REPO, startBenchPlatform } from './platform.ts';
import { cpuSeconds, processTree, totalCpuSeconds } from './process-cpu.ts';
import { runWrk } from './wrk.ts';
import type { WrkResult } from './wrk.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
};
const durationS = Number(arg('--duration', '5'));
const concurrencies = arg('--connections', '1,16,64').split(',').map(Number);
const wrk = ensureTool('wrk', 'wrk');
const nginx = ensureTool('nginx', 'nginx-light');
const workerCounts = process.argv.includes('--gateway-workers')
  ? arg('--gateway-workers', '1,2,4').split(',').map(Number)
  : null;
if (workerCounts) {
  console.log(
    `# gateway workers benchmark: ${durationS}s per run, ${availableParallelism()} CPUs, node ${process.version}`,
  );
  await gatewayWorkersTable({
    wrk,
    nginx,
    workerCounts,
    concurrencies: process.argv.includes('--connections') ? concurrencies : [16, 64],
    durationS,
  });
  process.exit(0);
}

const platform = await startBenchPlatform();
try {
  const { json } = platform.push(join(REPO, 'bench', 'models', 'echo'));
  const replicas = await platform.api<{ replicas: { address: string }[] }>(
    `/v1/models/${json.model_id}/deployments/${json.deployment_id}/replicas`,
  );
  const replicaRecord = replicas.replicas[0]! as { id: string; address: string };
  const replica = replicaRecord.address;
  // The replica answers only callers with its token (the gateway sends it; the API never shows
  // it): direct calls and nginx read it from the store, as a second gateway would.
  const db = new Database(join(platform.home, 'plinth.db'), { readonly: true });
  const token = (
    db.prepare('SELECT token FROM replicas WHERE id = ?').get(replicaRecord.id) as { token: string | null }
  ).token;
  db.close();
  const replicaHeaders = token ? [`x-plinth-replica-token: ${token}`] : [];
  const proxy = await startNginxProxy(nginx, replica, '/v1/models/model:predict');
  // CPU per request of the proxy in front (the gateway's own process, nginx's master and worker)
  // and of the replica behind it: on a machine this small they compete for the same cores.
  const replicaPids = processTree(platform.pid).filter((pid) => pid !== platform.pid);
  const proxyCpu: Record<string, () => number> = {
    direct: () => 0,
    gateway: () => cpuSeconds(platform.pid),
    nginx: () => totalCpuSeconds(processTree(proxy.pid)),
  };
  const targets: [string, string][] = [
    ['direct', `http://${replica}/v1/models/model:predict`],
    ['gateway', `${platform.url}/models/${json.model_id}/environments/production/predict`],
    ['nginx', proxy.url],
  ];
  console.log(
    `# gateway benchmark: ${durationS}s per run, ${availableParallelism()} CPUs, node ${process.version}`,
  );
  const rows: string[] = [];
  for (const connections of concurrencies) {
    const results = new Map<string, WrkResult>();
    const cpu = new Map<string, { proxyUs: number; replicaUs: number }>();
    for (const [name, url] of targets) {
      // The gateway checks the caller's API key, as it does for every user.
      const headers = name === 'gateway' ? [`Authorization: Api-Key ${platform.apiKey}`] : replicaHeaders;
      runWrk(wrk, url, connections, 1, headers); // warm-up
      const before = { proxy: proxyCpu[name]!(), replica: totalCpuSeconds(replicaPids) };
      const r = runWrk(wrk, url, connections, durationS, headers);
      const requests = r.rps * durationS;
      cpu.set(name, {
        proxyUs: ((proxyCpu[name]!() - before.proxy) / requests) * 1e6,
        replicaUs: ((totalCpuSeconds(replicaPids) - before.replica) / requests) * 1e6,
      });
      results.set(name, r);
    }
    const direct = results.get('direct')!;
    const ngx = results.get('nginx')!;
    for (const [name] of targets) {
      const r = results.get(name)!;
      rows.push(
        [
          String(connections).padStart(3),
          name.padEnd(7),
          r.rps.toFixed(0).padStart(7),
          r.p50Ms.toFixed(3).padStart(7),
          r.p99Ms.toFixed(3).padStart(7),
          name === 'direct' ? '      -' : `${(r.p50Ms - direct.p50Ms).toFixed(3).padStart(7)}`,
          `${((r.rps / direct.rps) * 100).toFixed(0).padStart(4)}%`,
          `${((r.rps / ngx.rps) * 100).toFixed(0).padStart(4)}%`,
          name === 'direct' ? '        -' : cpu.get(name)!.proxyUs.toFixed(1).padStart(9),
          cpu.get(name)!.replicaUs.toFixed(1).padStart(11),
          String(r.errors),
        ].join(' | '),
      );
    }
  }
  console.log(
    '  c | target  |   req/s | p50 ms  | p99 ms  | +p50 ms | of direct | of nginx | proxy CPU | replica CPU | errors',
  );
  for (const row of rows) console.log(row);
  await proxy.stop();
} finally {
  await platform.stop();
}

// The checks made once the load has stopped: deployments consistent with their replicas
// (invariant 4) and no request counted as in flight or queued (invariant 7) while the platform
// still runs; then, once it has been stopped gracefully, nothing of the run left (invariant 5).
// Each polls for a bounded while, since the platform settles asynchronously.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { sleep } from '../support/wait.ts';
import { endStateProblems, queuedNotDrained } from './invariants.ts';
import type { DeploymentState } from './invariants.ts';
import type { DeploymentJson, Observers, ReplicaJson } from './observe.ts';
import { isListening, isRunProcess, processesOfRun } from './orphans.ts';
import type { Violation } from './records.ts';
import type { World } from './world.ts';

const END_STATE_WAIT_MS = 30_000;
const QUEUES_WAIT_MS = 20_000;
const ORPHANS_WAIT_MS = 15_000;

/** Polls until the deployments are consistent or END_STATE_WAIT_MS passes; the problems left are violations. */
export async function checkEndState(world: World): Promise<Violation[]> {
  const deadline = Date.now() + END_STATE_WAIT_MS;
  let problems: string[] = [];
  do {
    try {
      problems = endStateProblems(await deploymentStates(world));
    } catch (err) {
      problems = [(err as Error).message];
    }
    if (problems.length === 0) return [];
    await sleep(1000);
  } while (Date.now() < deadline);
  return problems.map((detail) => ({ invariant: 'status-inconsistent', detail }));
}

async function deploymentStates(world: World): Promise<DeploymentState[]> {
  const out: DeploymentState[] = [];
  const types = await world.replicaApi<{ instance_types: { name: string; memory_bytes: number }[] }>(
    'GET',
    '/v1/instance_types',
  );
  if (types.status !== 200) throw new Error(`could not read the instance types (${types.status})`);
  const memoryOf = new Map(types.body.instance_types.map((t) => [t.name, t.memory_bytes]));
  for (const { name: model } of world.models) {
    const r = await world.replicaApi<{ deployments: DeploymentJson[] }>(
      'GET',
      `/v1/models/${model}/deployments`,
    );
    if (r.status !== 200)
      throw new Error(`could not read the deployments of ${model} (${r.status} ${JSON.stringify(r.body)})`);
    for (const d of r.body.deployments) {
      const replicas = await world.replicaApi<{ replicas: ReplicaJson[] }>(
        'GET',
        `/v1/models/${model}/deployments/${d.id}/replicas`,
      );
      out.push({
        model,
        id: d.id,
        name: d.name,
        status: d.status,
        statusReason: d.status_reason,
        ready: d.active_replica_count,
        live:
          replicas.status === 200
            ? replicas.body.replicas.length
            : d.active_replica_count + d.starting_replica_count,
        heldBytes:
          replicas.status === 200
            ? replicas.body.replicas.reduce((sum, x) => sum + (memoryOf.get(x.instance_type ?? '') ?? 0), 0)
            : 0,
      });
    }
  }
  return out;
}

/** Polls every platform process's /metrics (gateways too) until `plinth_concurrent_requests` is 0 everywhere. */
export async function checkQueues(world: World): Promise<Violation[]> {
  const deadline = Date.now() + QUEUES_WAIT_MS;
  let left: string[] = [];
  do {
    left = [];
    for (const p of world.processes().filter((x) => x.alive())) {
      const r = await fetchMetrics(p.url, world.apiKey).catch((err: Error) => `unreadable ${err.message}`);
      if (r.startsWith('unreadable')) left.push(`${p.role}: /metrics ${r}`);
      else left.push(...queuedNotDrained(r).map((line) => `${p.role}: ${line}`));
    }
    if (left.length === 0) return [];
    await sleep(1000);
  } while (Date.now() < deadline);
  return [{ invariant: 'queue-not-drained', detail: `after the load stopped: ${left.join('; ')}` }];
}

async function fetchMetrics(url: string, apiKey: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, {
    headers: { authorization: `Api-Key ${apiKey}` },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`answered ${res.status}: ${text.slice(0, 200)}`);
  return text;
}

/**
 * After the graceful stop: no process of the run alive (replicas seen during the run, or any
 * process started by a platform process or running under the home) and no port of the run
 * listening for one of them.
 */
export async function checkOrphans(world: World, observers: Observers): Promise<Violation[]> {
  const ports = new Set([...observers.replicaPorts, ...world.processes().map((p) => p.port)]);
  const deadline = Date.now() + ORPHANS_WAIT_MS;
  let problems: string[] = [];
  do {
    problems = [];
    const alive = new Set(processesOfRun(world.platformPids, world.home));
    for (const pid of observers.replicaPids)
      if (isRunProcess(pid, world.platformPids, world.home)) alive.add(pid);
    for (const pid of alive) problems.push(`process ${pid} (${commandOf(pid)}) is still alive`);
    for (const port of ports) {
      if (!(await isListening(port))) continue;
      const owners = listenersOf(port);
      const ours = owners.filter(
        (pid) => isRunProcess(pid, world.platformPids, world.home) || world.platformPids.has(pid),
      );
      if (ours.length > 0 || owners.length === 0)
        problems.push(
          `port ${port} still listens (${owners.length ? `pid ${ours.join(', ')}` : 'owner unknown'})`,
        );
    }
    if (problems.length === 0) return [];
    await sleep(500);
  } while (Date.now() < deadline);
  return problems.map((detail) => ({ invariant: 'orphan', detail }));
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 120);
  } catch {
    return '?';
  }
}

/** The pids that hold a listening TCP socket on `port` (from /proc/net/tcp{,6} and each process's fds). */
function listenersOf(port: number): number[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A') inodes.add(cols[9]!);
      }
    } catch {
      // no such table
    }
  }
  if (inodes.size === 0) return [];
  const owners: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) {
          owners.push(pid);
          break;
        }
      }
    } catch {
      // gone, or not readable
    }
  }
  return owners;
}

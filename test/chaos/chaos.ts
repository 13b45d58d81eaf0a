// One chaos run: start a world, put open-loop load on it, apply the seeded operation plan while
// watching, stop the load, let the platform settle, check the invariants, stop the platform
// gracefully and check that nothing is left. Everything is bounded and the world is disposed of
// however the run ends.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, until } from '../support/wait.ts';
import { checkEndState, checkOrphans, checkQueues } from './end-checks.ts';
import {
  checkCrashes,
  checkFailures,
  checkMemory,
  checkServedVersions,
  ServingHistory,
} from './invariants.ts';
import { startLoad } from './load.ts';
import type { ClientSpec, Load } from './load.ts';
import { Observers } from './observe.ts';
import { applyOperation } from './operations.ts';
import { planOperations } from './plan.ts';
import type { PlannedOp, StoreKind } from './plan.ts';
import type { RequestRecord, Violation } from './records.ts';
import { formatOpLog, formatSummary } from './report.ts';
import type { ChaosReport, OpLogEntry } from './report.ts';
import { startPostgresWorld } from './world-postgres.ts';
import { startSqliteWorld } from './world-sqlite.ts';
import type { World } from './world.ts';

export interface ChaosOptions {
  seed: number;
  store: StoreKind;
  /** How long the load runs and operations are applied. */
  durationMs: number;
  /** How long the platform may settle after the load before the end checks. */
  settleMs?: number;
  log?: (line: string) => void;
  /** Keep the platform output, op log and request records even when the run passes. */
  keepEvidence?: boolean;
}

const MODELS = ['alpha', 'beta'];
const REQUEST_TIMEOUT_MS = 20_000;
const MAX_IN_FLIGHT = 8;
/** How long a fault still under way at the end may take to end (they last seconds). */
const BACKGROUND_WAIT_MS = 30_000;

/** About 13–14 requests a second in all, through every way in the world has. */
function clientsOf(world: World): ClientSpec[] {
  const [alpha, beta] = MODELS as [string, string];
  const [first, second] = [world.targets[0]!, world.targets[1] ?? world.targets[0]!];
  const steady = world.store === 'sqlite' ? 5 : 4;
  return [
    { name: 'steady-alpha', kind: 'steady', model: alpha, target: first, ratePerS: steady },
    { name: 'steady-beta', kind: 'steady', model: beta, target: first, ratePerS: steady },
    ...(world.store === 'postgres'
      ? [
          { name: 'follower-alpha', kind: 'steady' as const, model: alpha, target: second, ratePerS: 2 },
          { name: 'follower-beta', kind: 'steady' as const, model: beta, target: second, ratePerS: 2 },
        ]
      : []),
    { name: 'slow-reader', kind: 'slow-reader', model: alpha, target: first, ratePerS: 1 },
    { name: 'hang-up', kind: 'hang-up', model: beta, target: second, ratePerS: 2 },
  ];
}

/** Writes what a failed run's reader needs into a directory that is kept; answers its path. */
function saveEvidence(world: World, report: ChaosReport, records: readonly RequestRecord[]): string {
  const dir = mkdtempSync(join(tmpdir(), `plinth-chaos-evidence-${report.store}-${report.seed}-`));
  for (const p of world.processes())
    p.history.forEach((inc, i) => writeFileSync(join(dir, `${p.role}.${i}.log`), inc.output));
  writeFileSync(join(dir, 'report.txt'), `${formatSummary(report)}\n${formatOpLog(report)}\n`);
  writeFileSync(join(dir, 'timeline.json'), JSON.stringify(world.timeline.events, null, 1));
  writeFileSync(join(dir, 'requests.jsonl'), records.map((r) => JSON.stringify(r)).join('\n'));
  return dir;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const { seed, store, durationMs } = options;
  const plan = planOperations(seed, store, durationMs, MODELS.length);
  const scratch = mkdtempSync(join(tmpdir(), `plinth-chaos-${store}-`));
  const began = Date.now();
  const at = (): string => `[${((Date.now() - began) / 1000).toFixed(1)} s]`;
  log(`chaos: seed ${seed}, store ${store}, ${durationMs} ms, ${plan.length} operations planned`);
  const start = store === 'sqlite' ? startSqliteWorld : startPostgresWorld;
  const world = await start(scratch, MODELS, log);
  const observers = new Observers(world);
  const violations: Violation[] = [];
  const ops: OpLogEntry[] = [];
  let load: Load | undefined;
  let t0 = Date.now();
  try {
    try {
      observers.start();
      await until(
        'both models seen in production',
        () => MODELS.every((m) => observers.envSamples.some((s) => s.model === m && s.current)),
        Boolean,
        30_000,
      );
      log(`chaos: ${at()} the world is up; load and operations start`);
      t0 = Date.now();
      load = startLoad(clientsOf(world), {
        apiKey: () => world.apiKey,
        deadlineMs: t0 + durationMs,
        timeoutMs: REQUEST_TIMEOUT_MS,
        maxInFlight: MAX_IN_FLIGHT,
        seed,
      });
      await applyPlan(world, observers, plan, t0, durationMs, ops, log);
      await Promise.race([Promise.all([...world.background]), sleep(BACKGROUND_WAIT_MS)]);
      await load.stop();
      log(`chaos: ${at()} load stopped (${load.records.length} requests); settling`);
      await sleep(options.settleMs ?? 15_000);
      violations.push(...(await checkEndState(world)), ...(await checkQueues(world)));
      log(`chaos: ${at()} end state checked; stopping the platform`);
      await observers.collect().catch(() => undefined);
      await observers.stop();
      await world.stop();
      violations.push(...gracefulExits(world), ...(await checkOrphans(world, observers)));
      log(`chaos: ${at()} stopped; orphans checked`);
    } catch (err) {
      violations.push({ invariant: 'run-aborted', detail: (err as Error).stack ?? String(err) });
    }
    await load?.stop();
    await observers.stop();
    const records = load?.records ?? [];
    const report = judge(
      { seed, store, durationMs, t0, planned: plan.length, ops },
      world,
      observers,
      records,
      load,
    );
    report.violations.push(...violations);
    if (options.keepEvidence || report.violations.length > 0 || ops.some((o) => o.result === 'failed'))
      report.notes.push(
        `evidence (platform output, op log, requests) kept in ${saveEvidence(world, report, records)}`,
      );
    return report;
  } finally {
    await load?.stop();
    await observers.stop();
    await world.dispose();
  }
}

/** Applies the plan's operations when due, until the load's time is up. */
async function applyPlan(
  world: World,
  observers: Observers,
  plan: readonly PlannedOp[],
  t0: number,
  durationMs: number,
  ops: OpLogEntry[],
  log: (line: string) => void,
): Promise<void> {
  for (const op of plan) {
    const wait = t0 + op.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (Date.now() >= t0 + durationMs) break;
    const startedMs = Date.now();
    const outcome = await applyOperation(world, observers, op);
    ops.push({
      ...outcome,
      index: op.index,
      kind: op.kind,
      plannedAtMs: op.atMs,
      startedMs,
      endedMs: Date.now(),
    });
    log(
      `  t+${((startedMs - t0) / 1000).toFixed(1)}s #${op.index} ${op.kind}: ${outcome.result} — ${outcome.detail}`,
    );
  }
  const left = t0 + durationMs - Date.now();
  if (left > 0) await sleep(left);
}

/** A graceful stop ends a process with code 0 (not a signal: one that had to be killed did not stop). */
function gracefulExits(world: World): Violation[] {
  return world.processes().flatMap((p) => {
    const inc = p.current;
    if (!inc || inc.exitCode === 0 || !inc.expected || inc.stoppedWith !== 'SIGTERM') return [];
    const how =
      inc.exitCode === null ? 'did not end on SIGTERM (it was killed)' : `exited with code ${inc.exitCode}`;
    return [
      {
        invariant: 'process-crashed',
        detail: `${p.role} ${how} when stopped gracefully:\n${inc.output.slice(-1500)}`,
      },
    ];
  });
}

/** Invariants 1, 2, 3 and 6 over what was recorded, and the counts of the summary. */
function judge(
  base: Pick<ChaosReport, 'seed' | 'store' | 'durationMs' | 't0' | 'planned' | 'ops'>,
  world: World,
  observers: Observers,
  records: readonly RequestRecord[],
  load: Load | undefined,
): ChaosReport {
  const serving = new ServingHistory(observers.envSamples);
  const failures = checkFailures({
    requests: records,
    timeline: world.timeline.events,
    serving,
    replicaSamples: observers.replicaSamples,
    t0: base.t0,
  });
  const memory = checkMemory(observers.rss);
  const failed = records.filter((r) => r.outcome === 'failed').length;
  return {
    ...base,
    requests: {
      sent: records.length,
      ok: records.filter((r) => r.outcome === 'ok').length,
      hungUp: records.filter((r) => r.outcome === 'hung-up').length,
      notSent: load?.notSent() ?? 0,
      failedByCause: failures.byCause,
      unexplained: failed - Object.values(failures.byCause).reduce((a, b) => a + b, 0),
    },
    peakRssBytes: memory.peakBytes,
    violations: [
      ...failures.violations,
      ...checkServedVersions(
        records,
        serving,
        (m, v) => observers.deploymentOf(m, v),
        base.t0,
        world.timeline.events,
      ),
      ...checkCrashes(world.crashes, base.t0),
      ...memory.violations,
    ],
    notes: world.notes,
  };
}

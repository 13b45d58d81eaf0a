// The chaos run's report: what it did (operations by kind and result), what the clients saw
// (requests sent, answered, failed by cause), peak memory and the violations; on a violation
// also the seed and the whole operation log, so the run can be replayed with the same seed.
import type { FailureCause } from './invariants.ts';
import { FAILURE_CAUSES, mb, rel } from './invariants.ts';
import type { OpKind, StoreKind } from './plan.ts';
import type { Violation } from './records.ts';
import type { OpOutcome } from './world.ts';

export interface OpLogEntry extends OpOutcome {
  index: number;
  kind: OpKind;
  plannedAtMs: number;
  startedMs: number;
  endedMs: number;
}

export interface ChaosReport {
  seed: number;
  store: StoreKind;
  durationMs: number;
  /** When the load started (Date.now()); op log times are relative to it. */
  t0: number;
  planned: number;
  ops: OpLogEntry[];
  requests: {
    sent: number;
    ok: number;
    hungUp: number;
    notSent: number;
    failedByCause: Record<FailureCause, number>;
    unexplained: number;
  };
  peakRssBytes: Record<string, number>;
  violations: Violation[];
  notes: string[];
}

function countBy(ops: readonly OpLogEntry[], result: OpOutcome['result']): string {
  const counts = new Map<string, number>();
  for (const o of ops) if (o.result === result) counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
}

export function formatSummary(r: ChaosReport): string {
  const q = r.requests;
  const lines = [
    `chaos run: seed ${r.seed}, store ${r.store}, ${(r.durationMs / 60_000).toFixed(2)} minutes of load`,
    `operations: ${r.ops.length} of ${r.planned} planned reached`,
    `  applied: ${countBy(r.ops, 'applied')}`,
    `  skipped (precondition): ${countBy(r.ops, 'skipped')}`,
    `  failed: ${countBy(r.ops, 'failed')}`,
    `requests: sent ${q.sent}, answered OK ${q.ok}, hung up by the client ${q.hungUp}, not sent (client at its bound) ${q.notSent}`,
    `  failed by cause: ${FAILURE_CAUSES.map((c) => `${c} ${q.failedByCause[c]}`).join(', ')}, unexplained ${q.unexplained}`,
    `peak RSS: ${
      Object.entries(r.peakRssBytes)
        .map(([p, b]) => `${p} ${mb(b)}`)
        .join(', ') || 'not sampled'
    }`,
    ...r.notes.map((n) => `note: ${n}`),
    r.violations.length === 0 ? 'violations: none' : `violations: ${r.violations.length}`,
    ...r.violations.map((v) => `  [${v.invariant}] ${v.detail}`),
  ];
  return lines.join('\n');
}

export function formatOpLog(r: ChaosReport): string {
  return [
    `operation log (seed ${r.seed}, store ${r.store}; the sequence is a pure function of the seed, its timing and preconditions are not):`,
    ...r.ops.map(
      (o) =>
        `  #${o.index} planned ${rel(r.t0 + o.plannedAtMs, r.t0)} ran [${rel(o.startedMs, r.t0)}, ${rel(o.endedMs, r.t0)}] ${o.kind}: ${o.result} — ${o.detail}`,
    ),
    `replay: npm run chaos -- --seed ${r.seed} --store ${r.store} --minutes ${(r.durationMs / 60_000).toFixed(2)}`,
  ].join('\n');
}

/** The summary, and on any violation the op log after it. */
export function formatReport(r: ChaosReport): string {
  return r.violations.length === 0 ? formatSummary(r) : `${formatSummary(r)}\n${formatOpLog(r)}`;
}

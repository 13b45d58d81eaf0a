// The chaos run's checks, pure: given the request records, the fault time line and what was seen
// of the platform, they answer the violations (each named after its invariant) and the failures
// counted by the cause that excuses them. Nothing here does I/O or reads a clock.
import { formatMemory, parseMemory } from '../../src/domain/quantity.ts';
import type {
  Crash,
  EnvSample,
  ReplicaSample,
  RequestRecord,
  RssSample,
  TimelineEvent,
  Violation,
} from './records.ts';
import { FOREVER } from './records.ts';

/**
 * How long after a SIGKILL a request may still be sent to the dead replica: until its exit is
 * seen, the gateway routes to it, and a keep-alive connection it finds closed under a request it
 * already wrote cannot be retried safely (the request may have run).
 */
export const KILL_NOTICE_MS = 500;

/** How far around a request the environment's state is looked at (invariant 2). */
export const SERVING_SLACK_MS = 1000;

export type FailureCause = 'replica-killed' | 'nothing-could-serve' | 'server-down';
export const FAILURE_CAUSES: readonly FailureCause[] = [
  'replica-killed',
  'nothing-could-serve',
  'server-down',
];

/** A model's environment samples, in the order they were taken (one poller per model: none overlap). */
export class ServingHistory {
  private readonly byModel = new Map<string, EnvSample[]>();

  constructor(samples: readonly EnvSample[]) {
    for (const s of samples) {
      const list = this.byModel.get(s.model) ?? [];
      list.push(s);
      this.byModel.set(s.model, list);
    }
    for (const list of this.byModel.values()) list.sort((a, b) => a.sentMs - b.sentMs);
  }

  /**
   * The deployments that may have served `model` in [fromMs, toMs]: those seen by a read that
   * overlaps the window, the state it started in (the last read before it), and, where the reads
   * left a gap longer than the slack at the window's end, the state found after that gap.
   */
  during(model: string, fromMs: number, toMs: number): Set<string> {
    const list = this.byModel.get(model) ?? [];
    const out = new Set<string>();
    const add = (s: EnvSample | undefined): void => {
      if (!s) return;
      if (s.current) out.add(s.current);
      if (s.candidate) out.add(s.candidate);
    };
    const first = Math.max(
      0,
      lastIndex(list, (s) => s.receivedMs < fromMs),
    );
    const last = lastIndex(list, (s) => s.sentMs <= toMs);
    for (let i = first; i <= last; i++) add(list[i]);
    const after = list[last + 1];
    const before = list[last];
    if (
      after &&
      (!before || (before.receivedMs < toMs && after.sentMs - before.receivedMs > SERVING_SLACK_MS))
    )
      add(after);
    return out;
  }
}

/** The last index whose item satisfies `pred` (a predicate true on a prefix); -1 if none. */
function lastIndex<T>(list: readonly T[], pred: (t: T) => boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pred(list[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

const CONNECTION_LOST = new Set(['refused', 'reset', 'truncated']);

export interface FailureVerdict {
  byCause: Record<FailureCause, number>;
  violations: Violation[];
}

export interface FailureInputs {
  requests: readonly RequestRecord[];
  timeline: readonly TimelineEvent[];
  serving: ServingHistory;
  replicaSamples: readonly ReplicaSample[];
  /** For messages: times are given relative to it. */
  t0: number;
}

/** Invariant 1: every failed request is excused by a fault the run caused, else it is a violation. */
export function checkFailures(inputs: FailureInputs): FailureVerdict {
  const { requests, timeline, serving, t0 } = inputs;
  const byCause: Record<FailureCause, number> = {
    'replica-killed': 0,
    'nothing-could-serve': 0,
    'server-down': 0,
  };
  const unexplained: RequestRecord[] = [];
  const windows = nothingCouldServe(timeline, inputs.replicaSamples);
  for (const r of requests) {
    if (r.outcome !== 'failed') continue;
    const cause = causeOf(r, timeline, serving, windows);
    if (cause) byCause[cause]++;
    else unexplained.push(r);
  }
  const violations: Violation[] = [];
  const byClass = new Map<string, RequestRecord[]>();
  for (const r of unexplained) byClass.set(r.errorClass, [...(byClass.get(r.errorClass) ?? []), r]);
  for (const [errorClass, list] of byClass) {
    const examples = list.slice(0, 5).map((r) => describeRequest(r, t0));
    violations.push({
      invariant: 'request-failed',
      detail: `${list.length} request(s) failed with ${errorClass} and no fault of the run explains it: ${examples.join('; ')}`,
    });
  }
  return { byCause, violations };
}

export function describeRequest(r: RequestRecord, t0: number): string {
  return `${r.client}→${r.process} ${r.model} [${rel(r.startMs, t0)}, ${rel(r.endMs, t0)}]${r.version !== null ? ` v${r.version}` : ''}${r.errorClass ? ` ${r.errorClass}` : ''}${r.message ? ` ("${r.message}")` : ''}`;
}

export function rel(ms: number, t0: number): string {
  return ms === FOREVER ? '∞' : `t+${((ms - t0) / 1000).toFixed(3)}s`;
}

interface Window {
  model: string;
  deploymentId: string;
  fromMs: number;
  toMs: number;
}

/**
 * After the run killed a deployment's only ready replica, nothing could serve it until another
 * replica of it was seen ready.
 */
function nothingCouldServe(timeline: readonly TimelineEvent[], samples: readonly ReplicaSample[]): Window[] {
  const out: Window[] = [];
  for (const e of timeline) {
    if (e.kind !== 'replica-killed' || e.othersReady > 0) continue;
    const back = samples.find(
      (s) =>
        s.deploymentId === e.deploymentId && s.atMs > e.atMs && s.readyIds.some((id) => id !== e.replicaId),
    );
    out.push({ model: e.model, deploymentId: e.deploymentId, fromMs: e.atMs, toMs: back?.atMs ?? FOREVER });
  }
  return out;
}

function causeOf(
  r: RequestRecord,
  timeline: readonly TimelineEvent[],
  serving: ServingHistory,
  windows: readonly Window[],
): FailureCause | null {
  const overlaps = (from: number, to: number): boolean => from <= r.endMs && to >= r.startMs;
  if (CONNECTION_LOST.has(r.errorClass)) {
    const down = timeline.some(
      (e) => e.kind === 'process-down' && e.process === r.process && overlaps(e.fromMs, e.toMs),
    );
    if (down) return 'server-down';
  }
  const servedBy = (): Set<string> =>
    serving.during(r.model, r.startMs - SERVING_SLACK_MS, r.endMs + SERVING_SLACK_MS);
  const lostOnReplica = CONNECTION_LOST.has(r.errorClass) || r.status === 503;
  for (const e of timeline) {
    if (e.kind === 'replica-killed' && lostOnReplica && e.model === r.model) {
      const inFlight = e.atMs >= r.startMs - KILL_NOTICE_MS && e.atMs <= r.endMs;
      if (inFlight && servedBy().has(e.deploymentId)) return 'replica-killed';
    }
    // A SIGSTOP longer than the client waits.
    if (e.kind === 'replica-stopped' && r.errorClass === 'timeout' && e.model === r.model) {
      if (overlaps(e.atMs, e.untilMs) && servedBy().has(e.deploymentId)) return 'replica-killed';
    }
  }
  if (r.status === 429 || r.status === 503) {
    const during = windows.filter((w) => w.model === r.model && r.startMs >= w.fromMs && r.startMs <= w.toMs);
    if (during.length > 0 && during.some((w) => servedBy().has(w.deploymentId))) return 'nothing-could-serve';
  }
  return null;
}

/**
 * Invariant 2: an answer comes from a deployment that served its URL around the time of the
 * request. `deploymentOf` maps a model's version to the deployment that reports it. A process cut
 * off from its store keeps the routes it had, by design (gateway/route-feed.ts): what it answers
 * during the outage, and within the slack after, may come from what served when it began.
 */
export function checkServedVersions(
  requests: readonly RequestRecord[],
  serving: ServingHistory,
  deploymentOf: (model: string, version: number) => string | undefined,
  t0: number,
  timeline: readonly TimelineEvent[] = [],
): Violation[] {
  const wrong: string[] = [];
  let count = 0;
  for (const r of requests) {
    if (r.outcome !== 'ok' || r.version === null) continue;
    const id = deploymentOf(r.model, r.version);
    let fromMs = r.startMs;
    for (const e of timeline) {
      if (e.kind !== 'store-outage' || e.process !== r.process) continue;
      if (e.fromMs <= r.endMs && e.toMs + SERVING_SLACK_MS >= r.startMs) fromMs = Math.min(fromMs, e.fromMs);
    }
    const seen = serving.during(r.model, fromMs - SERVING_SLACK_MS, r.endMs + SERVING_SLACK_MS);
    if (id && seen.has(id)) continue;
    count++;
    if (wrong.length < 5)
      wrong.push(
        `${describeRequest(r, t0)} (${id ?? 'an unknown deployment'}; serving then: ${[...seen].join(', ') || 'nothing seen'})`,
      );
  }
  if (count === 0) return [];
  return [
    {
      invariant: 'wrong-deployment',
      detail: `${count} answer(s) came from a deployment that did not serve the URL then: ${wrong.join('; ')}`,
    },
  ];
}

/** Invariant 3: a platform process exited without the run ending it. */
export function checkCrashes(crashes: readonly Crash[], t0: number): Violation[] {
  return crashes.map((c) => ({
    invariant: 'process-crashed',
    detail: `${c.process} exited at ${rel(c.atMs, t0)} (code ${c.code}, signal ${c.signal}); its last output:\n${c.outputTail}`,
  }));
}

/** A deployment as the end-of-run check sees it. */
export interface DeploymentState {
  model: string;
  id: string;
  name: string;
  status: string;
  statusReason: string | null;
  ready: number;
  /** Replicas starting, ready or draining. */
  live: number;
  /** Memory its live replicas' instance types take (what the local backend reserves for them). */
  heldBytes: number;
}

/** The reason of a deployment the local backend cannot place for memory. */
const WAITING_FOR_MEMORY = /waiting for capacity: needs (\S+) memory, (\S+) of (\S+) free/;
/** `formatMemory` rounds to one decimal: a leak is at least one replica's memory, far above this. */
const ROUNDING_BYTES = 128 * 1024 ** 2;

/**
 * For a deployment waiting for memory: null when what the live replicas hold leaves no room (a
 * full machine is a state to wait in, not an inconsistency), else what is wrong: memory the
 * backend reserves that no live replica holds (a leak), or a wait with room to spare. Undefined
 * when it waits for something else.
 */
function memoryWaitProblem(
  name: string,
  d: DeploymentState,
  all: readonly DeploymentState[],
): string | null | undefined {
  const m = WAITING_FOR_MEMORY.exec(d.statusReason ?? '');
  if (!m) return undefined;
  // (A full machine says "0 of 23.5Gi free": no quantity parseMemory takes.)
  const bytes = (q: string): number => (q === '0' ? 0 : parseMemory(q));
  const [need, free, capacity] = [bytes(m[1]!), bytes(m[2]!), bytes(m[3]!)];
  const live = all.reduce((sum, x) => sum + x.heldBytes, 0);
  const waiting = `${name} is still ${d.status} (${d.statusReason})`;
  if (capacity - free > live + ROUNDING_BYTES)
    return `${waiting}: the backend reserves ${formatMemory(capacity - free)}, its live replicas hold ${formatMemory(live)} (memory reserved for replicas that are gone)`;
  if (need > capacity - live) return null;
  return `${waiting}, though live replicas leave ${formatMemory(capacity - live)} free`;
}

const TRANSITIONAL = new Set([
  'BUILDING',
  'DEPLOYING',
  'LOADING_MODEL',
  'WAKING_UP',
  'UPDATING',
  'DEACTIVATING',
]);
const FAILED = new Set(['BUILD_FAILED', 'DEPLOY_FAILED', 'FAILED', 'UNHEALTHY']);

/** Invariant 4, for one look at the deployments: what is inconsistent (empty when all is well). */
export function endStateProblems(deployments: readonly DeploymentState[]): string[] {
  const problems: string[] = [];
  for (const d of deployments) {
    const name = `${d.model}/${d.name} (${d.id})`;
    if (d.status === 'ACTIVE' && d.ready === 0) problems.push(`${name} is ACTIVE with no READY replica`);
    else if ((d.status === 'SCALED_TO_ZERO' || d.status === 'INACTIVE') && d.live > 0)
      problems.push(`${name} is ${d.status} with ${d.live} live replica(s)`);
    else if (TRANSITIONAL.has(d.status)) {
      const memoryWait = memoryWaitProblem(name, d, deployments);
      if (memoryWait !== null)
        problems.push(memoryWait ?? `${name} is still ${d.status} (${d.statusReason ?? ''})`);
    } else if (FAILED.has(d.status)) problems.push(`${name} ended ${d.status}: ${d.statusReason ?? ''}`);
  }
  return problems;
}

/** Invariant 7: `plinth_concurrent_requests` samples of a Prometheus exposition that are not 0. */
export function queuedNotDrained(exposition: string): string[] {
  return exposition
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('plinth_concurrent_requests{') || line.startsWith('plinth_concurrent_requests '),
    )
    .filter((line) => Number(line.slice(line.lastIndexOf(' ') + 1)) !== 0);
}

export interface MemoryVerdict {
  peakBytes: Record<string, number>;
  violations: Violation[];
}

/** Long enough to judge growth: shorter runs only report the peak. */
export const MEMORY_SPAN_MS = 180_000;
const GROWTH_FLOOR_BYTES = 64 * 1024 ** 2;

/**
 * Invariant 6: peak RSS per process; growth is flagged when, over one start of a process that
 * lived at least MEMORY_SPAN_MS, the median of the last quarter of samples exceeds the first
 * quarter's by more than max(50%, 64 MB).
 */
export function checkMemory(samples: readonly RssSample[]): MemoryVerdict {
  const peakBytes: Record<string, number> = {};
  const runs = new Map<string, RssSample[]>();
  for (const s of samples) {
    peakBytes[s.process] = Math.max(peakBytes[s.process] ?? 0, s.rssBytes);
    const key = `${s.process}#${s.incarnation}`;
    runs.set(key, [...(runs.get(key) ?? []), s]);
  }
  const violations: Violation[] = [];
  for (const [key, list] of runs) {
    list.sort((a, b) => a.atMs - b.atMs);
    if (list.length < 8 || list.at(-1)!.atMs - list[0]!.atMs < MEMORY_SPAN_MS) continue;
    const quarter = Math.floor(list.length / 4);
    const first = median(list.slice(0, quarter).map((s) => s.rssBytes));
    const last = median(list.slice(-quarter).map((s) => s.rssBytes));
    if (last - first > Math.max(first * 0.5, GROWTH_FLOOR_BYTES)) {
      violations.push({
        invariant: 'memory-growth',
        detail: `${key}: median RSS grew from ${mb(first)} (first quarter) to ${mb(last)} (last quarter)`,
      });
    }
  }
  return { peakBytes, violations };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MB`;
}

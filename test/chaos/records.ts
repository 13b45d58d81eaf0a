// What a chaos run records: each request's fate, the faults it caused (on one time line, in
// Date.now() milliseconds), and what it saw of the platform. The invariants read only these.

export type RequestOutcome = 'ok' | 'failed' | 'hung-up';

export interface RequestRecord {
  client: string;
  /** The way in: 'server' (SQLite), 'gateway' or 'follower' (PostgreSQL). */
  target: string;
  /** The platform process the request was sent to (its role, e.g. 'plane-b'). */
  process: string;
  model: string;
  startMs: number;
  endMs: number;
  outcome: RequestOutcome;
  /** HTTP status (0: none came). */
  status: number;
  /** Why it failed: 'http-503 REPLICA_UNAVAILABLE', 'refused', 'reset', 'timeout', 'truncated', …; '' when ok. */
  errorClass: string;
  /** The version the answering deployment reported. */
  version: number | null;
  /** A failed answer's error message (the evidence of why), when it had one. */
  message?: string;
}

export type TimelineEvent =
  | {
      kind: 'replica-killed';
      atMs: number;
      model: string;
      deploymentId: string;
      replicaId: string;
      pid: number;
      /** READY replicas of the deployment other than the victim, just before the kill. */
      othersReady: number;
    }
  | {
      kind: 'replica-stopped';
      atMs: number;
      untilMs: number;
      model: string;
      deploymentId: string;
      replicaId: string;
      pid: number;
    }
  /** A platform process was down: killed by the run, or stopped itself after losing its lock. */
  | { kind: 'process-down'; process: string; fromMs: number; toMs: number; why: string }
  | { kind: 'store-outage'; process: string; fromMs: number; toMs: number }
  | { kind: 'disk-full'; fromMs: number; toMs: number };

/** One read of a model's production environment: what served it, and any promotion's candidate. */
export interface EnvSample {
  model: string;
  sentMs: number;
  receivedMs: number;
  current: string | null;
  candidate: string | null;
}

/** One read of a deployment's replicas. */
export interface ReplicaSample {
  atMs: number;
  model: string;
  deploymentId: string;
  readyIds: string[];
}

export interface RssSample {
  process: string;
  /** Which start of that process (0 first; a restart counts up). */
  incarnation: number;
  atMs: number;
  rssBytes: number;
}

export interface Violation {
  invariant: string;
  detail: string;
}

/** A platform process exit the run did not cause. */
export interface Crash {
  process: string;
  atMs: number;
  code: number | null;
  signal: string | null;
  outputTail: string;
}

export const FOREVER = Number.MAX_SAFE_INTEGER;

/** The fault time line, with windows that are open until the run closes them. */
export class Timeline {
  readonly events: TimelineEvent[] = [];

  add(event: TimelineEvent): TimelineEvent {
    this.events.push(event);
    return event;
  }

  /** Opens a window (toMs FOREVER) and answers a function that closes it now. */
  open<E extends Extract<TimelineEvent, { toMs: number }>>(event: E): () => void {
    this.events.push(event);
    return () => {
      if (event.toMs === FOREVER) event.toMs = Date.now();
    };
  }

  /** Whether a window of this kind (for this process, if given) is open now. */
  isOpen(kind: 'process-down' | 'store-outage' | 'disk-full', process?: string): boolean {
    return this.events.some(
      (e) =>
        e.kind === kind &&
        (e as { toMs: number }).toMs === FOREVER &&
        (process === undefined || (e as { process?: string }).process === process),
    );
  }
}

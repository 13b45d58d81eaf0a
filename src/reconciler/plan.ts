// The replica plan: desired count vs the replicas a backend reports → starts and stops. Pure.
// Stops take starting replicas before ready ones, idle before busy, and the newest first.
import type { ReplicaPhase } from '../runtime/backend.ts';

export interface ActualReplica {
  id: string;
  phase: ReplicaPhase;
  startedAtMs: number;
  /** Requests the gateway has on it; idle replicas are stopped before busy ones. */
  inFlight?: number;
  /** Runs another revision than the deployment's (a patch, an instance type): to be replaced. */
  outdated?: boolean;
}

export type ReplicaAction = { type: 'start' } | { type: 'stop'; replicaId: string };

export interface PlanInput {
  desired: number;
  replicas: readonly ActualReplica[];
  /** No start before this time (crash backoff). */
  startNotBeforeMs: number;
  nowMs: number;
  /**
   * One replica at a time fits (a custom server on a fixed port, on one machine): a replacement
   * stops the outdated replica before it starts the new one, rather than new before old.
   */
  oneAtATime?: boolean;
}

/** Stop order: starting before ready, idle before busy, newest first. */
function stopOrder(a: ActualReplica, b: ActualReplica): number {
  const rank = (r: ActualReplica): number => (r.phase === 'STARTING' ? 0 : 1);
  return rank(a) - rank(b) || (a.inFlight ?? 0) - (b.inFlight ?? 0) || b.startedAtMs - a.startedAtMs;
}

export function planReplicas(input: PlanInput): ReplicaAction[] {
  const live = input.replicas.filter((r) => r.phase === 'STARTING' || r.phase === 'READY');
  const old = live.filter((r) => r.outdated);
  if (old.length > 0 && input.desired > 0) {
    if (input.oneAtATime) return old.map((r) => ({ type: 'stop', replicaId: r.id }));
    return planReplacement(input, live, old);
  }
  const actions: ReplicaAction[] = [];
  if (live.length < input.desired) {
    if (input.nowMs >= input.startNotBeforeMs) {
      for (let i = live.length; i < input.desired; i++) actions.push({ type: 'start' });
    }
  } else if (live.length > input.desired) {
    const victims = [...live].sort(stopOrder);
    for (const r of victims.slice(0, live.length - input.desired))
      actions.push({ type: 'stop', replicaId: r.id });
  }
  return actions;
}

/**
 * A rolling replacement, new before old: one new replica starts at a time, and an outdated one is
 * stopped only once enough new ones are ready that the ready count never drops below `desired`.
 */
function planReplacement(input: PlanInput, live: ActualReplica[], old: ActualReplica[]): ReplicaAction[] {
  const actions: ReplicaAction[] = [];
  const fresh = live.filter((r) => !r.outdated);
  const freshReady = fresh.filter((r) => r.phase === 'READY').length;
  const freshStarting = fresh.length - freshReady;
  if (fresh.length < input.desired && freshStarting === 0 && input.nowMs >= input.startNotBeforeMs) {
    actions.push({ type: 'start' });
  }
  const surplus = freshReady + old.length - input.desired;
  for (const r of [...old].sort(stopOrder).slice(0, Math.max(0, surplus))) {
    actions.push({ type: 'stop', replicaId: r.id });
  }
  if (fresh.length > input.desired) {
    for (const r of [...fresh].sort(stopOrder).slice(0, fresh.length - input.desired)) {
      actions.push({ type: 'stop', replicaId: r.id });
    }
  }
  return actions;
}

/** Delay before the next start after `failures` consecutive failed starts or crashes. */
export function restartBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(500 * 2 ** (failures - 1), 30_000);
}

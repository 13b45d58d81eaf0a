// The replica plan: desired count vs the replicas a backend reports → starts and stops. Pure.
// Stops take starting replicas before ready ones, idle before busy, and the newest first.
import type { ReplicaPhase } from '../runtime/backend.ts';

export interface ActualReplica {
  id: string;
  phase: ReplicaPhase;
  startedAtMs: number;
  /** Requests the gateway has on it; idle replicas are stopped before busy ones. */
  inFlight?: number;
}

export type ReplicaAction = { type: 'start' } | { type: 'stop'; replicaId: string };

export interface PlanInput {
  desired: number;
  replicas: readonly ActualReplica[];
  /** No start before this time (crash backoff). */
  startNotBeforeMs: number;
  nowMs: number;
}

export function planReplicas(input: PlanInput): ReplicaAction[] {
  const live = input.replicas.filter((r) => r.phase === 'STARTING' || r.phase === 'READY');
  const actions: ReplicaAction[] = [];
  if (live.length < input.desired) {
    if (input.nowMs >= input.startNotBeforeMs) {
      for (let i = live.length; i < input.desired; i++) actions.push({ type: 'start' });
    }
  } else if (live.length > input.desired) {
    const rank = (r: ActualReplica): number => (r.phase === 'STARTING' ? 0 : 1);
    const victims = [...live].sort(
      (a, b) => rank(a) - rank(b) || (a.inFlight ?? 0) - (b.inFlight ?? 0) || b.startedAtMs - a.startedAtMs,
    );
    for (const r of victims.slice(0, live.length - input.desired))
      actions.push({ type: 'stop', replicaId: r.id });
  }
  return actions;
}

/** Delay before the next start after `failures` consecutive failed starts or crashes. */
export function restartBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(500 * 2 ** (failures - 1), 30_000);
}

// A rolling deploy, one step at a time: the incoming deployment grows to the replaced count while
// the outgoing one shrinks to zero, never above `replicas + surge` replicas in all and never below
// `replicas - unavailable` ready ones. Each step: grow the incoming side (once the outgoing side's
// stopped replicas are gone), wait until its replicas are ready, shift traffic to match the ratio the
// step ends at, wait the stabilization time, then shrink the outgoing side. Going forward the
// incoming side is the candidate; rolling back (a cancel) swaps the roles. Pure: time is passed in.
import type { RollingDeployConfig, RollingState } from '../domain/types.ts';

export interface RollingObservation {
  nowMs: number;
  /** Ready replicas of the incoming deployment. */
  incomingReady: number;
  /** Replicas of the outgoing deployment not yet stopped (starting, ready or draining). */
  outgoingLive: number;
}

export interface RollingStep {
  rolling: RollingState;
  /** The incoming side's share of new requests (0–100), when the step moves it. */
  incomingPercent?: number;
  /** Every replica is replaced and stable. */
  done?: boolean;
}

/** Replicas above and below the replaced count that a step may use; never both zero. */
export function rollingBounds(s: RollingDeployConfig & { replicas: number }): {
  surge: number;
  unavailable: number;
} {
  const surge = Math.ceil((s.replicas * s.max_surge_percent) / 100);
  const unavailable = Math.floor((s.replicas * s.max_unavailable_percent) / 100);
  if (surge > 0 || unavailable > 0) return { surge, unavailable };
  // A small count rounds the unavailable share down to nothing: take one replica at a time.
  return s.max_surge_percent > 0 ? { surge: 1, unavailable: 0 } : { surge: 0, unavailable: 1 };
}

/** The first step of replacing `replicas` replicas: the incoming side grows as far as the surge allows. */
export function startRolling(config: RollingDeployConfig, replicas: number): RollingState {
  const { surge } = rollingBounds({ ...config, replicas });
  return {
    ...config,
    replicas,
    incoming_target: Math.min(replicas, surge),
    outgoing_target: replicas,
    stable_since: null,
  };
}

/** The same progress seen from the other side: a cancelled rolling deploy rolls back from here. */
export function reverseRolling(s: RollingState): RollingState {
  return { ...s, incoming_target: s.outgoing_target, outgoing_target: s.incoming_target, stable_since: null };
}

function share(incoming: number, outgoing: number): number {
  return incoming + outgoing === 0 ? 100 : Math.round((incoming * 100) / (incoming + outgoing));
}

export function stepRolling(s: RollingState, o: RollingObservation): RollingStep | null {
  const { surge, unavailable } = rollingBounds(s);
  const total = s.replicas;
  // Grow only once the outgoing side's stopped replicas are gone: draining ones still run.
  if (o.outgoingLive > s.outgoing_target) return null;
  const grown = Math.min(total, total + surge - s.outgoing_target);
  if (s.incoming_target < grown) return { rolling: { ...s, incoming_target: grown, stable_since: null } };
  if (o.incomingReady < s.incoming_target) {
    // Not ready yet, or a ready replica was lost: the step waits (and its stability starts over).
    return s.stable_since === null ? null : { rolling: { ...s, stable_since: null } };
  }
  // The last step's replicas were already stable before the outgoing side went: nothing to wait for.
  if (s.incoming_target >= total && s.outgoing_target === 0)
    return { rolling: s, incomingPercent: 100, done: true };
  const shrunk = Math.max(0, Math.min(s.outgoing_target, total - unavailable - s.incoming_target));
  if (s.stable_since === null) {
    return {
      rolling: { ...s, stable_since: new Date(o.nowMs).toISOString() },
      incomingPercent: share(s.incoming_target, shrunk),
    };
  }
  if (o.nowMs - Date.parse(s.stable_since) < s.stabilization_time_seconds * 1000) return null;
  return { rolling: { ...s, outgoing_target: shrunk, stable_since: null } };
}

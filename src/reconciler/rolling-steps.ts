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

/**
 * Replicas above and below the replaced count that a step may use: the surge rounds down (so 50%
 * of 3 is 1 and never more than 1.5× run) but is at least one when asked for; at least one
 * replica always stays ready; never both zero.
 */
export function rollingBounds(s: RollingDeployConfig & { replicas: number }): {
  surge: number;
  unavailable: number;
} {
  const asked = Math.floor((s.replicas * s.max_surge_percent) / 100);
  const surge = s.max_surge_percent > 0 ? Math.max(1, asked) : 0;
  const unavailable = Math.min(
    Math.max(0, s.replicas - 1),
    Math.floor((s.replicas * s.max_unavailable_percent) / 100),
  );
  if (surge > 0 || unavailable > 0) return { surge, unavailable };
  // A small count rounds the unavailable share down to nothing (or one replica must stay):
  // take one replica at a time, above the count if none may go below it.
  return s.replicas > 1 ? { surge: 0, unavailable: 1 } : { surge: 1, unavailable: 0 };
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

/** The incoming side's share of traffic: none while it has no replicas to take it. */
function share(incoming: number, outgoing: number): number {
  return incoming === 0 ? 0 : Math.round((incoming * 100) / (incoming + outgoing));
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

// The promotion state machine, one step at a time: given a promotion and what is observed of its
// candidate, what the promotion becomes. Pure: time is passed in; the controller applies results.
//   WAITING_FOR_REPLICAS → (candidate has enough ready replicas) → RAMPING (gradual) or DONE
//   RAMPING: traffic moves to the candidate in even steps until the ramp time is over → DONE
//   a candidate that fails or loses every replica → FAILED; traffic stays (or goes back) on the old one
import { isDown } from '../domain/deployment-status.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import type { Promotion } from '../domain/types.ts';
import type { PromotionPatch } from '../store/store.ts';

/** A ramp moves this many even steps: 20%, 40%, 60%, 80%, then everything. */
export const RAMP_STEPS = 5;

export interface CandidateObservation {
  nowMs: number;
  /** Undefined when the candidate deployment no longer exists. */
  status: DeploymentStatus | undefined;
  readyReplicas: number;
}

export function rampPercent(elapsedMs: number, durationMs: number): number {
  const step = Math.min(RAMP_STEPS - 1, Math.floor((elapsedMs / durationMs) * RAMP_STEPS) + 1);
  return Math.round((step * 100) / RAMP_STEPS);
}

function finish(
  status: Promotion['status'],
  nowMs: number,
  traffic: number,
  reason: string | null,
): PromotionPatch {
  return {
    status,
    phase: 'DONE',
    traffic_percent: traffic,
    reason,
    finished_at: new Date(nowMs).toISOString(),
  };
}

export function stepPromotion(p: Promotion, o: CandidateObservation): PromotionPatch | null {
  if (p.status !== 'IN_PROGRESS') return null;
  if (o.status === undefined) return finish('FAILED', o.nowMs, 0, 'the candidate deployment was deleted');
  if (isDown(o.status)) {
    return finish(
      'FAILED',
      o.nowMs,
      0,
      `the candidate deployment is ${o.status}; traffic stays on the previous deployment`,
    );
  }
  if (p.phase === 'WAITING_FOR_REPLICAS') {
    if (o.readyReplicas < p.replicas_needed) return null;
    if (p.ramp_up_duration_seconds > 0) {
      return {
        phase: 'RAMPING',
        ramp_started_at: new Date(o.nowMs).toISOString(),
        traffic_percent: rampPercent(0, 1),
      };
    }
    return finish('SUCCEEDED', o.nowMs, 100, null);
  }
  if (p.phase === 'RAMPING') {
    if (o.readyReplicas === 0) {
      return finish(
        'FAILED',
        o.nowMs,
        0,
        'the candidate lost its ready replicas while ramping; traffic went back',
      );
    }
    const elapsedMs = o.nowMs - Date.parse(p.ramp_started_at ?? new Date(o.nowMs).toISOString());
    const durationMs = p.ramp_up_duration_seconds * 1000;
    if (elapsedMs >= durationMs) return finish('SUCCEEDED', o.nowMs, 100, null);
    const percent = rampPercent(elapsedMs, durationMs);
    return percent === p.traffic_percent ? null : { traffic_percent: percent };
  }
  return null;
}

/** Cancelling sends every request back to the previous deployment. */
export function cancelledPromotion(p: Promotion, nowMs: number): PromotionPatch | null {
  if (p.status !== 'IN_PROGRESS') return null;
  return finish('CANCELLED', nowMs, 0, 'cancelled');
}

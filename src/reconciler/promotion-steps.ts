// The promotion state machine, one step at a time: given a promotion and what is observed of its
// deployments, what the promotion becomes. Pure: time is passed in; the controller applies results.
//   WAITING_FOR_REPLICAS → (candidate has enough ready replicas) → RAMPING (gradual) or DONE
//   RAMPING: traffic moves to the candidate in even steps until the ramp time is over → DONE
//   ROLLING: replicas are replaced in steps (rolling-steps.ts) → DONE; a cancel turns it to
//   ROLLING_BACK, which replaces them the other way → DONE (CANCELLED)
//   a candidate that fails or loses every replica → FAILED; traffic stays (or goes back) on the old one
//   paused: nothing moves but a failure; resume carries on from where it stood
import { isDown } from '../domain/deployment-status.ts';
import type { DeploymentStatus } from '../domain/deployment-status.ts';
import type { Promotion, PromotionAction } from '../domain/types.ts';
import type { PromotionPatch } from '../store/store.ts';
import { reverseRolling, stepRolling } from './rolling-steps.ts';

/** A ramp moves this many even steps: 20%, 40%, 60%, 80%, then everything. */
export const RAMP_STEPS = 5;

export interface CandidateObservation {
  nowMs: number;
  /** Undefined when the candidate deployment no longer exists. */
  status: DeploymentStatus | undefined;
  readyReplicas: number;
  /** Replicas of the candidate not yet stopped (a rolling deploy counts them). */
  liveReplicas?: number;
  /** The previous deployment's ready and not-yet-stopped replicas (a rolling deploy counts them). */
  previous?: { readyReplicas: number; liveReplicas: number };
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
    paused_at: null,
  };
}

function stepRollingPromotion(p: Promotion, o: CandidateObservation): PromotionPatch | null {
  if (!p.rolling) return null;
  const back = p.phase === 'ROLLING_BACK';
  const previous = o.previous ?? { readyReplicas: 0, liveReplicas: 0 };
  const step = stepRolling(p.rolling, {
    nowMs: o.nowMs,
    incomingReady: back ? previous.readyReplicas : o.readyReplicas,
    outgoingLive: back ? (o.liveReplicas ?? o.readyReplicas) : previous.liveReplicas,
  });
  if (!step) return null;
  if (step.done) {
    return {
      rolling: step.rolling,
      ...(back
        ? finish('CANCELLED', o.nowMs, 0, 'cancelled; rolled back to the previous deployment')
        : finish('SUCCEEDED', o.nowMs, 100, null)),
    };
  }
  const patch: PromotionPatch = { rolling: step.rolling };
  if (step.incomingPercent !== undefined)
    patch.traffic_percent = back ? 100 - step.incomingPercent : step.incomingPercent;
  return patch;
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
  if (p.paused_at !== null) return null;
  if (p.phase === 'ROLLING' || p.phase === 'ROLLING_BACK') return stepRollingPromotion(p, o);
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

function shifted(iso: string | null, byMs: number): string | null {
  return iso === null ? null : new Date(Date.parse(iso) + byMs).toISOString();
}

/**
 * What an action asked of a promotion in progress makes of it (the action is recorded by the
 * caller), or a one-line reason it cannot be done.
 *   pause: nothing moves until resumed (a failure still ends it)
 *   resume: carries on; a ramp's or a step's clock skips the paused time
 *   cancel: traffic back at once; a rolling deploy rolls back in steps instead
 *   force_cancel: traffic back at once, whatever the phase
 *   force_roll_forward: all traffic to the candidate now
 */
export function actOnPromotion(
  p: Promotion,
  action: Exclude<PromotionAction, 'promote'>,
  nowMs: number,
): PromotionPatch | string {
  if (p.status !== 'IN_PROGRESS') return `the promotion is ${p.status}`;
  switch (action) {
    case 'pause':
      return p.paused_at !== null
        ? 'the promotion is already paused'
        : { paused_at: new Date(nowMs).toISOString() };
    case 'resume': {
      if (p.paused_at === null) return 'the promotion is not paused';
      const pausedMs = nowMs - Date.parse(p.paused_at);
      return {
        paused_at: null,
        ramp_started_at: shifted(p.ramp_started_at, pausedMs),
        rolling: p.rolling && { ...p.rolling, stable_since: shifted(p.rolling.stable_since, pausedMs) },
      };
    }
    case 'cancel':
      if (p.phase === 'ROLLING_BACK') return 'the promotion is already rolling back';
      if (p.phase === 'ROLLING' && p.rolling)
        return { phase: 'ROLLING_BACK', rolling: reverseRolling(p.rolling), paused_at: null };
      return finish('CANCELLED', nowMs, 0, 'cancelled');
    case 'force_cancel':
      return finish('CANCELLED', nowMs, 0, 'force-cancelled: all traffic went back at once');
    case 'force_roll_forward':
      return finish(
        'SUCCEEDED',
        nowMs,
        100,
        'rolled forward by force: all traffic went to the candidate at once',
      );
  }
}

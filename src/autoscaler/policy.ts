// The autoscaling policy (DESIGN.md §5): desired replicas from concurrency samples. Pure — the
// time comes in as nowMs and the state goes in and comes back out; it never reads a clock or does I/O.
//   desired = ceil(window-average concurrency ÷ (concurrency_target × utilization)), in [min, max]
//   up at once; down only after the load stayed low for scale_down_delay (to the highest
//   recommendation seen meanwhile, so no flapping); a burst far above the window average scales
//   up from a short panic window before the long window catches up; with max_scale_down_rate,
//   each step down removes at most that percent of the replicas (at least one), one step a window.
import type { AutoscalingSettings } from '../domain/autoscaling.ts';

export interface ConcurrencySample {
  timeMs: number;
  /** Requests in flight plus requests queued, at that moment. */
  concurrency: number;
}

export interface PolicyState {
  /** Since when every recommendation has been below the current count (null: not below). */
  lowSinceMs: number | null;
  /** The highest recommendation since lowSinceMs. */
  highestWhileLow: number;
  /** Panic mode (following the short window) lasts until then; 0 when not panicking. */
  panicUntilMs: number;
  /** When the policy last asked for fewer replicas (null: never); max_scale_down_rate counts from it. */
  lastStepDownMs: number | null;
}

export interface ScaleInput {
  nowMs: number;
  settings: AutoscalingSettings;
  samples: readonly ConcurrencySample[];
  current: number;
  previous: PolicyState | null;
}

export interface ScaleDecision {
  desired: number;
  state: PolicyState;
  reason: string;
}

/** The panic window is this fraction of the autoscaling window (at least 1 s). */
export const PANIC_WINDOW_FRACTION = 0.1;
/** A burst: the panic window asks for this many times the current replicas. */
export const PANIC_THRESHOLD = 2;

export function windowAverage(samples: readonly ConcurrencySample[], fromMs: number, toMs: number): number {
  let sum = 0;
  let n = 0;
  for (const s of samples) {
    if (s.timeMs > fromMs && s.timeMs <= toMs) {
      sum += s.concurrency;
      n++;
    }
  }
  return n === 0 ? 0 : sum / n;
}

export function decideScale(input: ScaleInput): ScaleDecision {
  const { nowMs, settings, samples, current } = input;
  const perReplica = settings.concurrency_target * (settings.target_utilization_percentage / 100);
  const windowMs = settings.autoscaling_window * 1000;
  const stableAvg = windowAverage(samples, nowMs - windowMs, nowMs);
  const panicAvg = windowAverage(samples, nowMs - Math.max(1000, windowMs * PANIC_WINDOW_FRACTION), nowMs);
  const clamp = (n: number): number => Math.min(settings.max_replica, Math.max(settings.min_replica, n));
  let wanted = Math.ceil(stableAvg / perReplica - 1e-9);
  let why = `window average ${stableAvg.toFixed(2)} in flight ÷ ${perReplica.toFixed(2)} per replica`;
  const panicWanted = Math.ceil(panicAvg / perReplica - 1e-9);
  // A burst enters panic mode; in it the short window leads, for one whole window after the last burst.
  let panicUntilMs = input.previous?.panicUntilMs ?? 0;
  if (panicWanted >= Math.max(1, current) * PANIC_THRESHOLD && panicWanted > wanted)
    panicUntilMs = nowMs + windowMs;
  if (nowMs < panicUntilMs && panicWanted > wanted) {
    wanted = panicWanted;
    why = `burst: ${panicAvg.toFixed(2)} in flight over the last seconds`;
  }
  if (nowMs >= panicUntilMs) panicUntilMs = 0;
  const recommended = clamp(wanted);
  const lastStepDownMs = input.previous?.lastStepDownMs ?? null;

  if (recommended >= current || panicUntilMs > 0) {
    // Up at once; and never down while panicking.
    const desired = Math.max(recommended, panicUntilMs > 0 ? current : 0);
    return {
      desired,
      state: { lowSinceMs: null, highestWhileLow: 0, panicUntilMs, lastStepDownMs },
      reason: desired > current ? `scale up: ${why}` : `steady: ${why}`,
    };
  }
  if (current > settings.max_replica) {
    // A lowered max_replica applies at once.
    return {
      desired: settings.max_replica,
      state: { lowSinceMs: null, highestWhileLow: 0, panicUntilMs, lastStepDownMs },
      reason: `max_replica is ${settings.max_replica}`,
    };
  }
  const previous = input.previous;
  const lowSinceMs = previous?.lowSinceMs ?? nowMs;
  const highestWhileLow = Math.max(previous?.lowSinceMs == null ? 0 : previous.highestWhileLow, recommended);
  if (nowMs - lowSinceMs < settings.scale_down_delay * 1000) {
    return {
      desired: current,
      state: { lowSinceMs, highestWhileLow, panicUntilMs, lastStepDownMs },
      reason: `holding ${current} until load stays low for ${settings.scale_down_delay} s`,
    };
  }
  // Settings written before the field existed leave it out: no limit, as null.
  const rate = settings.max_scale_down_rate;
  if (rate == null) {
    return {
      desired: highestWhileLow,
      state: { lowSinceMs: null, highestWhileLow: 0, panicUntilMs, lastStepDownMs: nowMs },
      reason: `scale down after ${settings.scale_down_delay} s of lower load: ${why}`,
    };
  }
  // Rate-limited: one step per window, each removing at most rate% of the replicas (at least one).
  if (lastStepDownMs !== null && nowMs - lastStepDownMs < windowMs) {
    return {
      desired: current,
      state: { lowSinceMs, highestWhileLow, panicUntilMs, lastStepDownMs },
      reason: `holding ${current}: max_scale_down_rate ${rate}% allows one step down per ${settings.autoscaling_window} s`,
    };
  }
  const desired = Math.max(highestWhileLow, current - maxStepDown(current, rate));
  // Not there yet: the load stays low (no new delay), and the next step aims at the most asked
  // for after this one.
  const state: PolicyState =
    desired > highestWhileLow
      ? { lowSinceMs, highestWhileLow: 0, panicUntilMs, lastStepDownMs: nowMs }
      : { lowSinceMs: null, highestWhileLow: 0, panicUntilMs, lastStepDownMs: nowMs };
  return {
    desired,
    state,
    reason: `scale down after ${settings.scale_down_delay} s of lower load, at most ${rate}% a window: ${why}`,
  };
}

/** The most replicas one step down may remove from `current` at `ratePercent`: at least one. */
export function maxStepDown(current: number, ratePercent: number): number {
  return Math.max(1, Math.floor((current * ratePercent) / 100));
}

export interface QueueInput {
  nowMs: number;
  settings: AutoscalingSettings;
  /** Requests in flight plus queued now, when a request had to queue for want of a free slot. */
  concurrency: number;
  current: number;
  previous: PolicyState | null;
}

/**
 * A request had to queue: scale up at once, without waiting for the next tick, to the replicas
 * that would give every request in flight or queued a slot at `concurrency_target` each. Scaling
 * down waits `scale_down_delay` from here, as after any rise. Null when the replicas are enough.
 */
export function scaleForQueue(input: QueueInput): ScaleDecision | null {
  const { settings, current } = input;
  const wanted = Math.min(
    settings.max_replica,
    Math.ceil(input.concurrency / settings.concurrency_target - 1e-9),
  );
  if (wanted <= current) return null;
  return {
    desired: wanted,
    state: {
      lowSinceMs: null,
      highestWhileLow: 0,
      panicUntilMs: Math.max(
        input.previous?.panicUntilMs ?? 0,
        input.nowMs + settings.autoscaling_window * 1000,
      ),
      lastStepDownMs: input.previous?.lastStepDownMs ?? null,
    },
    reason: `queued: ${input.concurrency} requests in flight or waiting for a slot`,
  };
}

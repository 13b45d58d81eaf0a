// The seeded bursty trace both autoscaler benchmarks replay (idle gaps, a slow ramp, a high plateau
// falling to a trickle, and sharp one-second spikes), the oracle that sets the replica-seconds
// baseline, and the table both print.
import type { AutoscalingSettings } from '../../src/domain/autoscaling.ts';

export const SERVICE_S = 0.5; // each request keeps one slot this long
export const SLOTS = 2; // predict_concurrency per replica
export const WAIT_BOUND_S = 1;
/** Arrivals are placed on a grid of this many ticks per second. */
export const TICKS = 10;

/**
 * Settings for bursty traffic when a replica starts in well under the wait bound (the pre-started
 * pool): a short window, scale down without delay, and requests that queue scale up at once. The
 * simulator's grid (--grid) is where they come from.
 */
export const BURSTY: Partial<AutoscalingSettings> = {
  min_replica: 0,
  max_replica: 20,
  concurrency_target: SLOTS,
  target_utilization_percentage: 70,
  autoscaling_window: 3,
  scale_down_delay: 0,
};

/** mulberry32: small, seeded, good enough for a trace. */
export function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Requests per second, second by second, over six phases: idle then light, a ramp to 16 req/s,
 * 6 req/s then a trickle — twice; spikes of 25–45 req/s about 14 times an hour (at least 4 in all).
 */
export function bursty(durationS: number, random: () => number): number[] {
  const phaseS = durationS / 6;
  const spikeChance = Math.max(0.004, 4 / durationS);
  const rate: number[] = [];
  for (let t = 0; t < durationS; t++) {
    const phase = Math.floor(t / phaseS) % 3;
    const into = (t % phaseS) / phaseS;
    let base = 0;
    if (phase === 0) base = into < 1 / 3 ? 0 : 2;
    if (phase === 1) base = into * 16;
    if (phase === 2) base = into < 1 / 2 ? 6 : 0.2;
    const spike = random() < spikeChance ? 25 + random() * 20 : 0;
    rate.push(base + spike);
  }
  return rate;
}

function poisson(mean: number, random: () => number): number {
  let n = 0;
  let p = Math.exp(-mean);
  let s = p;
  const u = random();
  while (u > s && n < 1000) {
    n++;
    p *= mean / n;
    s += p;
  }
  return n;
}

/** Arrivals per tick, for every second of the trace. */
export type Arrivals = number[][];

export function arrivalsOf(rates: number[], random: () => number): Arrivals {
  return rates.map((r) => Array.from({ length: TICKS }, () => poisson(r / TICKS, random)));
}

export interface Result {
  name: string;
  /** Requests answered (the simulator answers all of them). */
  requests: number;
  /** Fraction of requests that waited at most WAIT_BOUND_S for a slot. */
  withinBound: number;
  replicaSeconds: number;
  coldStarts: number;
  scaleEvents: number;
  failed?: number;
}

/**
 * The oracle knows every arrival and starts replicas instantly: each second it holds just enough
 * replicas for the most requests in flight at once in that second when none of them waits.
 */
export function oracle(arrivals: Arrivals): Result {
  let replicaSeconds = 0;
  let coldStarts = 0;
  let scaleEvents = 0;
  let previous = 0;
  for (const most of peakConcurrency(arrivals)) {
    const replicas = Math.ceil(most / SLOTS);
    if (replicas !== previous) scaleEvents++;
    coldStarts += Math.max(0, replicas - previous);
    previous = replicas;
    replicaSeconds += replicas;
  }
  const requests = arrivals.flat().reduce((a, b) => a + b, 0);
  return { name: 'oracle', requests, withinBound: 1, replicaSeconds, coldStarts, scaleEvents };
}

/** Each second's most requests in flight at once when none waits (what the oracle sizes for). */
export function peakConcurrency(arrivals: Arrivals): number[] {
  let inFlightEnds: number[] = [];
  const peaks: number[] = [];
  for (let t = 0; t < arrivals.length; t++) {
    let most = 0;
    for (let tick = 0; tick < TICKS; tick++) {
      const now = t + tick / TICKS;
      inFlightEnds = inFlightEnds.filter((e) => e > now + 1e-9);
      for (let i = 0; i < arrivals[t]![tick]!; i++) inFlightEnds.push(now + SERVICE_S);
      most = Math.max(most, inFlightEnds.length);
    }
    peaks.push(most);
  }
  return peaks;
}

/**
 * What the settings themselves ask for, with perfect knowledge and instant starts: each second,
 * the most replicas needed (peak concurrency ÷ (target × utilization)) in the last window + delay
 * seconds — a policy that averages over the window and waits the delay before scaling down can
 * do no better. Its replica-seconds are the yardstick of what the real run adds.
 */
export function settingsReference(arrivals: Arrivals, settings: Partial<AutoscalingSettings>): Result {
  const perReplica =
    (settings.concurrency_target ?? 1) * ((settings.target_utilization_percentage ?? 70) / 100);
  const needed = peakConcurrency(arrivals).map((c) => Math.ceil(c / perReplica));
  const span = (settings.autoscaling_window ?? 60) + (settings.scale_down_delay ?? 900);
  let replicaSeconds = 0;
  for (let t = 0; t < needed.length; t++)
    replicaSeconds += Math.max(...needed.slice(Math.max(0, t - span + 1), t + 1));
  const requests = arrivals.flat().reduce((a, b) => a + b, 0);
  return {
    name: 'reference for these settings',
    requests,
    withinBound: 1,
    replicaSeconds,
    coldStarts: 0,
    scaleEvents: 0,
  };
}

export function printTable(results: Result[], oracleReplicaSeconds: number): void {
  const withFailed = results.some((r) => r.failed !== undefined);
  console.log(
    `${'policy'.padEnd(50)} | wait ≤ ${WAIT_BOUND_S} s | replica-s ÷ oracle | cold starts | scale events${withFailed ? ' | requests | failed' : ''}`,
  );
  for (const r of results) {
    console.log(
      `${r.name.padEnd(50)} | ${(r.withinBound * 100).toFixed(2).padStart(9)}% | ${(r.replicaSeconds / oracleReplicaSeconds).toFixed(2).padStart(18)} | ${String(r.coldStarts).padStart(11)} | ${String(r.scaleEvents).padStart(12)}${withFailed ? ` | ${String(r.requests).padStart(8)} | ${String(r.failed ?? 0).padStart(6)}` : ''}`,
    );
  }
}

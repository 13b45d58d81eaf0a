// Autoscaler simulator in fake time: replays a seeded bursty trace (idle gaps, ramps, spikes)
// through our policy, a Knative-style policy (stable/panic windows, scale down at once after a
// short grace), and a fixed pool sized for the peak; an oracle that knows the future sets the
// replica-seconds baseline; then a traffic drop, with and without max_scale_down_rate.
// Run: node --import tsx bench/autoscaler/simulate.ts [--seed 7]
import { decideScale, scaleForQueue } from '../../src/autoscaler/policy.ts';
import type { ConcurrencySample, PolicyState } from '../../src/autoscaler/policy.ts';
import { DEFAULT_AUTOSCALING } from '../../src/domain/autoscaling.ts';
import type { AutoscalingSettings } from '../../src/domain/autoscaling.ts';
import {
  arrivalsOf,
  BURSTY,
  bursty,
  oracle,
  printTable,
  seeded,
  SERVICE_S,
  SLOTS,
  TICKS,
  WAIT_BOUND_S,
} from './trace.ts';
import type { Arrivals, Result } from './trace.ts';
import { printTrafficDrop } from './traffic-drop.ts';

const seedArg = process.argv.indexOf('--seed');
const seed = seedArg === -1 ? 7 : Number(process.argv[seedArg + 1]);
/** A model whose load() takes a few seconds, and the measured start of a light one (bench:cold-start). */
const COLD_STARTS_S = [3, 0.3];
const DURATION_S = 3600;

interface Policy {
  tick(nowS: number, samples: ConcurrencySample[], current: number): number;
  /** A request queued for want of a free slot; the replicas wanted now (current when no change). */
  queued?(nowS: number, concurrency: number, current: number): number;
}

function ours(settings: AutoscalingSettings, onQueue = true): Policy {
  let state: PolicyState | null = null;
  return {
    tick(nowS, samples, current) {
      const d = decideScale({ nowMs: nowS * 1000, settings, samples, current, previous: state });
      state = d.state;
      return d.desired;
    },
    queued: onQueue
      ? (nowS, concurrency, current) => {
          const d = scaleForQueue({ nowMs: nowS * 1000, settings, concurrency, current, previous: state });
          if (!d) return current;
          state = d.state;
          return d.desired;
        }
      : undefined,
  };
}

/** Knative's KPA as documented: 60 s stable window, 6 s panic window, scale-to-zero grace 30 s. */
function knativeStyle(settings: AutoscalingSettings): Policy {
  let panicUntil = 0;
  let zeroCandidateSince: number | null = null;
  return {
    tick: (nowS, samples, current) => {
      const avg = (w: number) => {
        const xs = samples.filter((s) => s.timeMs > (nowS - w) * 1000);
        return xs.length ? xs.reduce((a, s) => a + s.concurrency, 0) / xs.length : 0;
      };
      const per = settings.concurrency_target * (settings.target_utilization_percentage / 100);
      const stable = Math.ceil(avg(60) / per);
      const panic = Math.ceil(avg(6) / per);
      if (panic >= 2 * Math.max(1, current)) panicUntil = nowS + 60;
      let want = nowS < panicUntil ? Math.max(current, panic, stable) : stable;
      want = Math.min(settings.max_replica, Math.max(settings.min_replica, want));
      if (want === 0 && current > 0) {
        zeroCandidateSince ??= nowS;
        if (nowS - zeroCandidateSince < 30) return current;
      } else zeroCandidateSince = null;
      return want;
    },
  };
}

function run(name: string, arrivals: Arrivals, policy: Policy, coldStartS: number, fixed?: number): Result {
  let ready: number[] = []; // per replica: the time it became ready
  let starting: number[] = []; // ready-at times
  const queue: number[] = []; // arrival times
  const samples: ConcurrencySample[] = [];
  let within = 0;
  let total = 0;
  let replicaSeconds = 0;
  let coldStarts = 0;
  let scaleEvents = 0;
  let inFlightEnds: number[] = [];
  const startReplicas = (n: number, at: number): void => {
    for (let i = 0; i < n; i++) starting.push(at + coldStartS);
    coldStarts += n;
    scaleEvents++;
  };
  if (fixed) ready = Array.from({ length: fixed }, () => 0);
  for (let t = 0; t < arrivals.length; t++) {
    for (let tick = 0; tick < TICKS; tick++) {
      const now = t + tick / TICKS;
      for (const at of starting.filter((s) => s <= now + 1e-9)) ready.push(at);
      starting = starting.filter((s) => s > now + 1e-9);
      for (let i = 0; i < arrivals[t]![tick]!; i++) queue.push(now);
      // A request at zero replicas wakes the deployment at once, not at the next tick.
      if (!fixed && queue.length > 0 && ready.length + starting.length === 0) startReplicas(1, now);
      inFlightEnds = inFlightEnds.filter((e) => e > now + 1e-9);
      while (queue.length > 0 && ready.length * SLOTS - inFlightEnds.length > 0) {
        const arrived = queue.shift()!;
        total++;
        if (now - arrived <= WAIT_BOUND_S + 1e-9) within++;
        inFlightEnds.push(now + SERVICE_S);
      }
      // Requests that found no free slot tell the autoscaler at once (the gateway does the same).
      const replicas = ready.length + starting.length;
      if (!fixed && policy.queued && queue.length > 0) {
        const wanted = policy.queued(now, inFlightEnds.length + queue.length, replicas);
        if (wanted > replicas) startReplicas(wanted - replicas, now);
      }
    }
    const concurrency = inFlightEnds.filter((e) => e > t + 1).length + queue.length;
    samples.push({ timeMs: (t + 1) * 1000, concurrency });
    const current = ready.length + starting.length;
    const desired = fixed ? current : policy.tick(t + 1, samples, current);
    if (desired > current) startReplicas(desired - current, t + 1);
    else if (desired < current) {
      // Starting replicas go first, then ready ones (a drained replica frees its slots as it ends).
      let drop = current - desired;
      const fromStarting = Math.min(drop, starting.length);
      starting.splice(starting.length - fromStarting);
      drop -= fromStarting;
      ready.splice(ready.length - drop);
      scaleEvents++;
    }
    replicaSeconds += ready.length + starting.length;
  }
  return {
    name,
    requests: total,
    withinBound: total ? within / total : 1,
    replicaSeconds,
    coldStarts,
    scaleEvents,
  };
}

const settings: AutoscalingSettings = {
  ...DEFAULT_AUTOSCALING,
  min_replica: 0,
  max_replica: 20,
  concurrency_target: SLOTS,
  target_utilization_percentage: 70,
  autoscaling_window: 60,
  scale_down_delay: 300,
};
const random = seeded(seed);
const rates = bursty(DURATION_S, random);
const arrivals = arrivalsOf(rates, random);
const peak = Math.ceil((Math.max(...rates) * SERVICE_S) / SLOTS);
const best = oracle(arrivals);
const grid = process.argv.includes('--grid');
const burstySettings = { ...settings, ...BURSTY };
console.log(
  `# autoscaler simulation: ${DURATION_S / 60} min seeded trace (seed ${seed}), ${best.requests} requests, ${SERVICE_S} s per request, ${SLOTS} slots per replica`,
);
const name = (s: AutoscalingSettings) =>
  `plinth (window ${s.autoscaling_window}, delay ${s.scale_down_delay}, util ${s.target_utilization_percentage})`;
for (const coldStartS of COLD_STARTS_S) {
  const results: Result[] = [best];
  if (grid) {
    for (const window of [1, 2, 3, 5, 10, 20, 30, 60])
      for (const delay of [0, 5, 10, 20, 30, 60])
        for (const util of [50, 70, 100]) {
          const s = {
            ...settings,
            autoscaling_window: window,
            scale_down_delay: delay,
            target_utilization_percentage: util,
          };
          results.push(run(name(s), arrivals, ours(s), coldStartS));
        }
  } else {
    results.push(run(`${name(settings)}, no queue trigger`, arrivals, ours(settings, false), coldStartS));
    results.push(run(name(settings), arrivals, ours(settings), coldStartS));
    results.push(
      run(`${name(burstySettings)}, no queue trigger`, arrivals, ours(burstySettings, false), coldStartS),
    );
    results.push(run(name(burstySettings), arrivals, ours(burstySettings), coldStartS));
    for (const s of [settings, burstySettings].map((x) => ({ ...x, max_scale_down_rate: 25 })))
      results.push(run(`${name(s)}, rate 25`, arrivals, ours(s), coldStartS));
    results.push(run('knative-style (60 s / 6 s)', arrivals, knativeStyle(settings), coldStartS));
    results.push(run(`fixed pool (${peak})`, arrivals, ours(settings), coldStartS, peak));
  }
  console.log(`\ncold start ${coldStartS} s`);
  printTable(results, best.replicaSeconds);
}

if (!grid) {
  const rated = (s: AutoscalingSettings, rate: number | null) => ({
    name: `${name(s)}${rate === null ? '' : `, rate ${rate}`}`,
    settings: { ...s, max_scale_down_rate: rate },
  });
  console.log(`\ntraffic drop: ${settings.max_replica} replicas under steady load, then none`);
  printTrafficDrop(
    [null, 25, 10].map((rate) => rated(settings, rate)),
    [0, 300, 600, 660, 720, 900, 1200],
  );
  printTrafficDrop(
    [null, 25, 10].map((rate) => rated(burstySettings, rate)),
    [0, 1, 2, 3, 6, 9, 15, 30],
  );
}

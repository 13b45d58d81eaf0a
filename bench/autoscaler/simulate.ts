// Autoscaler simulator in fake time: replays a seeded bursty trace (idle gaps, ramps, spikes)
// through our policy, a Knative-style policy (stable/panic windows, scale down at once after a
// short grace), and a fixed pool sized for the peak; an oracle that knows the future sets the
// replica-seconds baseline. Run: node --import tsx bench/autoscaler/simulate.ts [--seed 7]
import { decideScale } from '../../src/autoscaler/policy.ts';
import type { ConcurrencySample, PolicyState } from '../../src/autoscaler/policy.ts';
import { DEFAULT_AUTOSCALING } from '../../src/domain/autoscaling.ts';
import type { AutoscalingSettings } from '../../src/domain/autoscaling.ts';

const seedArg = process.argv.indexOf('--seed');
let seed = seedArg === -1 ? 7 : Number(process.argv[seedArg + 1]);
const random = (): number => {
  // mulberry32: small, seeded, good enough for a trace
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const SERVICE_S = 0.5; // each request keeps one slot this long
const SLOTS = 2; // predict_concurrency per replica
const COLD_START_S = 3;
const DURATION_S = 3600;
const WAIT_BOUND_S = 1;

/** Requests per second, second by second: idle gaps, slow ramps and sharp spikes. */
function trace(): number[] {
  const rate: number[] = [];
  let base = 0;
  for (let t = 0; t < DURATION_S; t++) {
    const phase = Math.floor(t / 600) % 3;
    if (phase === 0) base = t % 600 < 200 ? 0 : 2; // idle, then light
    if (phase === 1) base = ((t % 600) / 600) * 16; // ramp up to 16 rps
    if (phase === 2) base = t % 600 < 300 ? 6 : 0.2;
    const spike = random() < 0.004 ? 25 + random() * 20 : 0;
    rate.push(base + spike);
  }
  return rate;
}

function poisson(mean: number): number {
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

type Policy = (nowS: number, samples: ConcurrencySample[], current: number) => number;

function ours(settings: AutoscalingSettings): Policy {
  let state: PolicyState | null = null;
  return (nowS, samples, current) => {
    const d = decideScale({ nowMs: nowS * 1000, settings, samples, current, previous: state });
    state = d.state;
    return d.desired;
  };
}

/** Knative's KPA as documented: 60 s stable window, 6 s panic window, scale-to-zero grace 30 s. */
function knativeStyle(settings: AutoscalingSettings): Policy {
  let panicUntil = 0;
  let zeroCandidateSince: number | null = null;
  return (nowS, samples, current) => {
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
  };
}

interface Result {
  name: string;
  withinBound: number;
  replicaSeconds: number;
  coldStarts: number;
  scaleEvents: number;
}

function run(name: string, rates: number[], policy: Policy | 'oracle', fixed?: number): Result {
  const arrivals = rates.map((r) => poissonFor(r));
  let ready: number[] = []; // per replica: busy-until times of its slots
  let starting: number[] = []; // ready-at times
  const queue: number[] = []; // arrival times
  const samples: ConcurrencySample[] = [];
  let within = 0;
  let total = 0;
  let replicaSeconds = 0;
  let coldStarts = 0;
  let scaleEvents = 0;
  let inFlightEnds: number[] = [];
  const slotsFree = (t: number): number => ready.length * SLOTS - inFlightEnds.filter((e) => e > t).length;
  if (fixed) ready = Array.from({ length: fixed }, () => 0);
  for (let t = 0; t < DURATION_S; t++) {
    for (let tick = 0; tick < 10; tick++) {
      const now = t + tick / 10;
      for (const at of starting.filter((s) => s <= now)) ready.push(at);
      starting = starting.filter((s) => s > now);
      for (let i = 0; i < arrivals[t]![tick]!; i++) queue.push(now);
      inFlightEnds = inFlightEnds.filter((e) => e > now);
      while (queue.length > 0 && slotsFree(now) > 0) {
        const arrived = queue.shift()!;
        total++;
        if (now - arrived <= WAIT_BOUND_S) within++;
        inFlightEnds.push(now + SERVICE_S);
      }
    }
    const concurrency = inFlightEnds.filter((e) => e > t + 1).length + queue.length;
    samples.push({ timeMs: (t + 1) * 1000, concurrency });
    const current = ready.length + starting.length;
    let desired = current;
    if (policy === 'oracle') {
      const next = rates[t + 1] ?? 0;
      desired = Math.ceil((next * SERVICE_S) / SLOTS);
    } else if (!fixed) {
      desired = policy(t + 1, samples, current);
      if (current === 0 && queue.length > 0) desired = Math.max(desired, 1); // a request wakes it at once
    }
    if (desired > current) {
      const startAt = policy === 'oracle' ? t + 1 : t + 1 + COLD_START_S;
      for (let i = current; i < desired; i++) starting.push(startAt);
      coldStarts += desired - current;
      scaleEvents++;
    } else if (desired < current) {
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
  return { name, withinBound: total ? within / total : 1, replicaSeconds, coldStarts, scaleEvents };
}

function poissonFor(rate: number): number[] {
  return Array.from({ length: 10 }, () => poisson(rate / 10));
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
const traceSeed = seed;
const rates = trace();
const peak = Math.ceil((Math.max(...rates) * SERVICE_S) / SLOTS);
const startSeed = seed;
const results: Result[] = [];
for (const [name, policy, fixed] of [
  ['oracle', 'oracle', undefined],
  ['plinth (delay 300 s)', ours(settings), undefined],
  ['plinth (delay 60 s)', ours({ ...settings, scale_down_delay: 60 }), undefined],
  ['knative-style', knativeStyle(settings), undefined],
  [`fixed pool (${peak})`, ours(settings), peak],
] as const) {
  seed = startSeed; // the same arrivals for every policy
  results.push(run(name, rates, policy as Policy | 'oracle', fixed));
}
const oracle = results[0]!.replicaSeconds;
console.log(
  `# autoscaler simulation: ${DURATION_S / 60} min seeded trace (seed ${traceSeed}), ${SERVICE_S}s per request, ${SLOTS} slots per replica, ${COLD_START_S}s cold start`,
);
console.log('policy                 | wait ≤ 1 s | replica-s ÷ oracle | cold starts | scale events');
for (const r of results) {
  console.log(
    `${r.name.padEnd(22)} | ${(r.withinBound * 100).toFixed(2).padStart(9)}% | ${(r.replicaSeconds / oracle).toFixed(2).padStart(18)} | ${String(r.coldStarts).padStart(11)} | ${String(r.scaleEvents).padStart(12)}`,
  );
}

// The autoscaler simulator's bursty trace, compressed to two minutes, against the real server: a
// model that sleeps 500 ms per request (two at a time per replica), our autoscaler with the
// settings the simulator picks for bursty traffic, and a fixed pool sized for the peak as the
// baseline. Reports per run: % of requests that waited ≤ 1 s (latency minus the model's sleep),
// replica-seconds ÷ the oracle's, cold starts, scale events, requests and failed requests.
// Run: node --import tsx bench/autoscaler/replay.ts [--seed 7] [--seconds 120]
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { AutoscalingSettings } from '../../src/domain/autoscaling.ts';
import { REPO, startBenchPlatform } from '../platform.ts';
import {
  arrivalsOf,
  BURSTY,
  bursty,
  oracle,
  printTable,
  seeded,
  SERVICE_S,
  settingsReference,
  SLOTS,
  TICKS,
  WAIT_BOUND_S,
} from './trace.ts';
import type { Arrivals, Result } from './trace.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const seed = arg('--seed', 7);
const seconds = arg('--seconds', 120);

interface DeploymentView {
  status: string;
  active_replica_count: number;
  starting_replica_count: number;
}

// Twenty 2 GiB replicas would not fit in this machine's memory: the sleeper needs none of it.
const platform = await startBenchPlatform(['--capacity', 'memory=64Gi']);
try {
  const { json } = platform.push(join(REPO, 'bench', 'models', 'sleeper'));
  const base = `/v1/models/${json.model_id}/deployments/${json.deployment_id}`;
  const predictUrl = `${platform.url}/models/${json.model_id}/production/predict`;
  const settle = async (settings: Partial<AutoscalingSettings>, until: (d: DeploymentView) => boolean) => {
    const res = await fetch(`${platform.url}${base}/autoscaling_settings`, {
      method: 'PATCH',
      headers: { authorization: `Api-Key ${platform.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(settings),
    });
    if (!res.ok) throw new Error(`PATCH autoscaling_settings: ${res.status} ${await res.text()}`);
    for (let i = 0; !until(await platform.api<DeploymentView>(base)); i++) {
      if (i > 600) throw new Error('the deployment did not settle within 60 s');
      await sleep(100);
    }
    await sleep(500);
  };
  /** Platform counters that only grow: replica starts, autoscaler decisions, wakes. */
  const counters = async () => {
    const count = async (search: string) =>
      (
        await platform.api<{ logs: unknown[] }>(
          `${base}/logs?search=${encodeURIComponent(search)}&limit=10000`,
        )
      ).logs.length;
    const events = await platform.api<{ events: { to: string }[] }>(`${base}/events`);
    return {
      coldStarts: await count('model loaded'),
      scaleEvents: (await count('autoscaler:')) + events.events.filter((e) => e.to === 'WAKING_UP').length,
    };
  };

  const replay = async (name: string, arrivals: Arrivals): Promise<Result> => {
    const before = await counters();
    let replicaSeconds = 0;
    let polling = true;
    const poller = (async () => {
      let last = performance.now();
      while (polling) {
        const d = await platform.api<DeploymentView>(base);
        const now = performance.now();
        replicaSeconds += ((d.active_replica_count + d.starting_replica_count) * (now - last)) / 1000;
        last = now;
        await sleep(100);
      }
    })();
    const sent: Promise<{ ok: boolean; waitS: number }>[] = [];
    const t0 = performance.now();
    for (let t = 0; t < arrivals.length; t++) {
      for (let tick = 0; tick < TICKS; tick++) {
        const due = t0 + (t + tick / TICKS) * 1000;
        if (due > performance.now()) await sleep(due - performance.now());
        for (let i = 0; i < arrivals[t]![tick]!; i++) {
          const started = performance.now();
          sent.push(
            fetch(predictUrl, { method: 'POST', body: '{}', headers: platform.auth }).then(
              async (res) => {
                await res.text();
                return { ok: res.status === 200, waitS: (performance.now() - started) / 1000 - SERVICE_S };
              },
              () => ({ ok: false, waitS: Infinity }),
            ),
          );
        }
      }
    }
    const answers = await Promise.all(sent);
    polling = false;
    await poller;
    const after = await counters();
    return {
      name,
      requests: answers.length,
      withinBound: answers.filter((a) => a.ok && a.waitS <= WAIT_BOUND_S).length / answers.length,
      replicaSeconds,
      coldStarts: after.coldStarts - before.coldStarts,
      scaleEvents: after.scaleEvents - before.scaleEvents,
      failed: answers.filter((a) => !a.ok).length,
    };
  };

  const random = seeded(seed);
  const rates = bursty(seconds, random);
  const arrivals = arrivalsOf(rates, random);
  const best = oracle(arrivals);
  const peak = Math.ceil((Math.max(...rates) * SERVICE_S) / SLOTS);
  console.log(
    `# autoscaler replay against the real server: ${seconds} s seeded trace (seed ${seed}), ${best.requests} requests, ${SERVICE_S} s sleep per request, ${SLOTS} slots per replica`,
  );
  const results: Result[] = [best];
  // Settings a user would pick (a short window, a short delay, the replica's own concurrency as the
  // target, full utilization) and the simulator's bursty ones; each beside what it asks for.
  const runs: [string, Partial<AutoscalingSettings>][] = [
    [
      'window 5, delay 5, util 100',
      { ...BURSTY, autoscaling_window: 5, scale_down_delay: 5, target_utilization_percentage: 100 },
    ],
    [
      'window 3, delay 0, util 100',
      { ...BURSTY, autoscaling_window: 3, scale_down_delay: 0, target_utilization_percentage: 100 },
    ],
    ['window 3, delay 0, util 70', BURSTY],
  ];
  const references: [string, number][] = [];
  for (const [name, settings] of runs) {
    await settle(settings, (d) => d.status === 'SCALED_TO_ZERO' && d.active_replica_count === 0);
    const reference = settingsReference(arrivals, settings);
    const run = await replay(`plinth (${name})`, arrivals);
    results.push({ ...reference, name: `reference (${name})` }, run);
    references.push([name, run.replicaSeconds / reference.replicaSeconds]);
  }
  await settle({ min_replica: peak, max_replica: peak }, (d) => d.active_replica_count === peak);
  results.push(await replay(`fixed pool (${peak})`, arrivals));
  printTable(results, best.replicaSeconds);
  for (const [name, ratio] of references)
    console.log(`plinth (${name}): ${ratio.toFixed(2)}× the replica-seconds its settings ask for`);
} finally {
  await platform.stop();
}

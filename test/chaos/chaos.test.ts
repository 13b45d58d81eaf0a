// The chaos run in CI: a few fixed seeds, short enough for every `npm test` (about two and a half
// minutes on two cores in all). Each starts the real platform, puts open-loop load on it, applies its
// seeded operations (pushes, promotions, scaling, instance types, replica and server kills,
// SIGSTOP, a full disk, store outages, leader kills) and fails on any violated invariant,
// printing the seed and the operation log to replay it with `npm run chaos`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChaos } from './chaos.ts';
import type { StoreKind } from './plan.ts';
import { formatOpLog, formatReport, formatSummary } from './report.ts';

/** Seeds picked for what their first seconds plan (`covers`); seed 85 first found the cleanup crash. */
const RUNS: { seed: number; store: StoreKind; durationMs: number; covers: string }[] = [
  {
    seed: 15,
    store: 'sqlite',
    durationMs: 30_000,
    covers:
      'gradual promotions and a cancel, a full disk, a push --promote, instance types, server and replica kills',
  },
  {
    seed: 85,
    store: 'sqlite',
    durationMs: 30_000,
    covers: 'a gradual promotion and a cancel, a replica kill, a push --promote, a deactivation, a full disk',
  },
  {
    seed: 41,
    store: 'postgres',
    durationMs: 40_000,
    covers:
      'the leader cut off its store, a gradual promotion, a SIGSTOP, a leader kill, pushes, a replica kill',
  },
];

for (const run of RUNS) {
  test(`chaos, ${run.store}, seed ${run.seed}: ${run.covers}`, async () => {
    const report = await runChaos({ ...run, settleMs: 6000 });
    console.log(formatSummary(report));
    if (report.violations.length === 0) console.log(formatOpLog(report));
    assert.equal(report.violations.length, 0, formatReport(report));
  });
}

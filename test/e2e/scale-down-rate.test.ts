// e2e: `max_scale_down_rate` on the real server. Load takes a deployment to 8 replicas, the load
// stops, and the replica count is sampled on the way down: with rate 25 no window removes more
// than a quarter of the replicas it began with; with the rate unset the same run drains faster
// than that, so the check below is one that can fail.
import { until } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { load, pushed, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

const WINDOW_S = 3;
const MAX = 8;
let platform: Platform;
let deploymentId: string;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-scale-down-rate-'));

before(async () => {
  platform = await startPlatform();
  const dir = writeTree(join(scratch, 'drain'), {
    'config.yaml': [
      'model_name: drain',
      'runtime:',
      '  predict_concurrency: 1',
      'autoscaling:',
      '  min_replica: 0',
      `  max_replica: ${MAX}`,
      '  concurrency_target: 1',
      '  target_utilization_percentage: 100',
      `  autoscaling_window: ${WINDOW_S}`,
      '  scale_down_delay: 1',
      '  max_scale_down_rate: 25',
      '',
    ].join('\n'),
    'model/model.ts': `export class Model {
  async predict() {
    await new Promise((r) => setTimeout(r, 200));
    return { pid: process.pid };
  }
}\n`,
  });
  deploymentId = (await pushed(platform, dir)).deployment_id;
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Sample {
  atMs: number;
  count: number;
}

async function readyReplicas(): Promise<number> {
  const d = await platform.api<{ active_replica_count: number }>(
    'GET',
    `/v1/models/drain/deployments/${deploymentId}`,
  );
  return d.body.active_replica_count;
}

/**
 * Loads the deployment with more clients than MAX (127.0.0.1, at most 60 s) until it runs MAX
 * ready replicas, stops the load, then samples the ready replicas every ~200 ms until none is left.
 */
async function drainAfterLoad(): Promise<Sample[]> {
  const traffic = load(
    MAX + 2,
    async () => {
      const res = await fetch(`${platform.url}/models/drain/production/predict`, {
        method: 'POST',
        body: '{}',
      });
      await res.text();
      return res.status;
    },
    60_000,
  );
  try {
    await until('8 ready replicas under load', readyReplicas, (n) => n === MAX, 45_000, 200);
  } finally {
    const statuses = await traffic.stop();
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      'no failed request',
    );
  }
  const samples: Sample[] = [];
  await until(
    'the deployment to drain',
    async () => {
      samples.push({ atMs: Date.now(), count: await readyReplicas() });
      return samples.at(-1)!.count;
    },
    (n) => n === 0,
    90_000,
    200,
  );
  return samples;
}

/**
 * Drops faster than the rate allows: pairs of samples taken less than a window apart (less a
 * second for the reconciler and the sampling to lag behind the autoscaler's clock) whose count
 * fell by more than max(1, floor(count at the first × rate / 100)). Two steps taken a window
 * apart never fall inside one such span; a single step larger than the rate allows is caught by
 * any two samples around it.
 */
function tooFast(samples: Sample[], ratePercent: number): string[] {
  const spanMs = (WINDOW_S - 1) * 1000;
  const found: string[] = [];
  for (const [i, a] of samples.entries()) {
    const allowed = Math.max(1, Math.floor((a.count * ratePercent) / 100));
    for (const b of samples.slice(i + 1)) {
      if (b.atMs - a.atMs >= spanMs) break;
      if (a.count - b.count > allowed) found.push(`${a.count} → ${b.count}`);
    }
  }
  return [...new Set(found)];
}

/** The counts the samples went through, each once, in order. */
const path = (samples: Sample[]): number[] =>
  samples.map((s) => s.count).filter((n, i, all) => i === 0 || n !== all[i - 1]);

test('max_scale_down_rate 25 (from config.yaml): each window removes at most a quarter of the replicas', async (t) => {
  const settings = await platform.api<{ max_scale_down_rate: number | null }>(
    'GET',
    `/v1/models/drain/deployments/${deploymentId}/autoscaling_settings`,
  );
  assert.equal(settings.body.max_scale_down_rate, 25);
  const samples = await drainAfterLoad();
  t.diagnostic(`replicas went ${path(samples).join(' → ')}`);
  assert.equal(samples[0]!.count, MAX, 'sampling began before the first step down');
  assert.deepEqual(tooFast(samples, 25), [], `replicas went ${path(samples).join(' → ')}`);
  // At most 2 of 8, then one a window: at least 8 counts on the way down, each seen.
  assert.ok(path(samples).length >= 8, `replicas went ${path(samples).join(' → ')}`);
});

test('with max_scale_down_rate unset (plinth autoscaling set … none) the same drop drains faster', async (t) => {
  const unset = await platform.cli([
    'autoscaling',
    'set',
    '--model',
    'drain',
    '--deployment',
    deploymentId,
    '--max-scale-down-rate',
    'none',
  ]);
  assert.equal(unset.code, 0, unset.stderr);
  assert.match(unset.stdout, /max_scale_down_rate\s+none/);
  const samples = await drainAfterLoad();
  t.diagnostic(`replicas went ${path(samples).join(' → ')}; too fast: ${tooFast(samples, 25).join(', ')}`);
  assert.notDeepEqual(tooFast(samples, 25), [], `replicas went ${path(samples).join(' → ')}`);

  const set = await platform.cli(['autoscaling', 'set', '--model', 'drain', '--max-scale-down-rate', '25']);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /max_scale_down_rate\s+25/);
  const wrong = await platform.cli(['autoscaling', 'set', '--model', 'drain', '--max-scale-down-rate', '60']);
  assert.equal(wrong.code, 1);
  assert.match(
    wrong.stderr,
    /autoscaling_settings field "max_scale_down_rate": expected a whole percent from 1 to 50/,
  );
});

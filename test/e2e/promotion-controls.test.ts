// e2e: the promotion controls under steady load, with zero failed requests: pause mid-ramp holds the
// split, resume carries on, force-cancel sends all traffic back at once, force-roll-forward sends it
// all to the candidate; a rolling deploy with max_surge_percent 50 never runs more than 1.5× the
// replicas nor fewer ready than the old count; an environment deactivated and activated again;
// redeploy_on_promotion promotes a fresh deployment of the same bundle.
import { sleep, until } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { load, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-controls-'));

interface Answer {
  startedAtMs: number;
  status: number;
  version: string | null;
}

interface Promotion {
  status: string;
  phase: string;
  traffic_percent: number;
  is_paused: boolean;
  to_deployment_id: string;
  finished_at: string | null;
  actions: { action: string; by: string }[];
}

interface Env {
  current_deployment_id: string | null;
  in_progress_promotion: Promotion | null;
  promotions: Promotion[];
  is_active: boolean;
  autoscaling_settings: Record<string, number>;
}

function versionDir(model: string, version: string): string {
  return writeTree(join(scratch, `${model}-${version}`), {
    'config.yaml': `model_name: ${model}\nruntime:\n  predict_concurrency: 8\n`,
    'model/model.ts': `export class Model {
  async predict() { await new Promise((r) => setTimeout(r, 20)); return { version: '${version}' }; }
}\n`,
  });
}

/** Pushes v1 (serving production) and v2 of `model`; answers their deployment ids. */
async function pushVersions(model: string): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const v of ['v1', 'v2']) {
    const r = await platform.cli(['push', versionDir(model, v), '--deployment-name', v, '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    ids[v] = (JSON.parse(r.stdout) as { deployment_id: string }).deployment_id;
  }
  return ids;
}

async function call(model: string): Promise<Answer> {
  const startedAtMs = Date.now();
  try {
    const res = await fetch(`${platform.url}/models/${model}/environments/production/predict`, {
      method: 'POST',
      body: '{}',
    });
    const body = (await res.json()) as { version?: string };
    return { startedAtMs, status: res.status, version: body.version ?? null };
  } catch {
    return { startedAtMs, status: 0, version: null };
  }
}

const env = async (model: string, name = 'production') =>
  (await platform.api<Env>('GET', `/v1/models/${model}/environments/${name}`)).body;

async function control(model: string, command: string): Promise<void> {
  const r = await platform.cli(['environments', command, 'production', '--model', model]);
  assert.equal(r.code, 0, `${command}: ${r.stdout}${r.stderr}`);
}

/** Every request sent from now on (for 1.5 s of steady load) is answered by `version`. */
async function allAfterGoTo(answers: Answer[], version: string, action: string): Promise<void> {
  const sinceMs = Date.now();
  await sleep(1500);
  const after = answers.filter((a) => a.startedAtMs > sinceMs);
  assert.ok(after.length > 10, `${after.length} requests after ${action}`);
  assert.deepEqual(
    after.filter((a) => a.version !== version),
    [],
    `every request sent after ${action} returned went to ${version}`,
  );
}

const failed = (answers: Answer[]) => answers.filter((a) => a.status !== 200);

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('pause holds a ramp’s split, resume carries on, force-cancel sends all traffic back at once, force-roll-forward all to the candidate', async () => {
  const ids = await pushVersions('ctl');
  const patched = await platform.api('PATCH', '/v1/models/ctl/environments/production', {
    promotion_settings: { ramp_up_while_promoting: true, ramp_up_duration_seconds: 40 },
  });
  assert.equal(patched.status, 200);
  const traffic = load(4, () => call('ctl'));
  try {
    const promoted = await platform.cli([
      'environments',
      'promote',
      'production',
      'v2',
      '--model',
      'ctl',
      '--no-wait',
    ]);
    assert.equal(promoted.code, 0, promoted.stderr);
    const ramping = await until(
      'the promotion ramping',
      () => env('ctl'),
      (e) => e.in_progress_promotion?.phase === 'RAMPING',
      30_000,
    );
    await control('ctl', 'pause-promotion');
    const held = (await env('ctl')).in_progress_promotion!;
    assert.ok(held.is_paused);
    const pausedAtMs = Date.now();
    // Longer than a ramp step (8 s): a ramp that was not held would have moved.
    await sleep(9000);
    const still = (await env('ctl')).in_progress_promotion!;
    assert.equal(still.traffic_percent, held.traffic_percent, 'a paused ramp holds its split');
    const whilePaused = traffic.answers.filter((a) => a.startedAtMs > pausedAtMs + 2500);
    const share = whilePaused.filter((a) => a.version === 'v2').length / whilePaused.length;
    assert.ok(
      Math.abs(share * 100 - held.traffic_percent) <= 10,
      `the candidate took ${Math.round(share * 100)}% while paused at ${held.traffic_percent}%`,
    );
    assert.ok(ramping.in_progress_promotion!.traffic_percent > 0);

    await control('ctl', 'resume-promotion');
    await until(
      'the ramp moving on after resume',
      () => env('ctl'),
      (e) => (e.in_progress_promotion?.traffic_percent ?? 0) > held.traffic_percent,
      30_000,
    );

    await control('ctl', 'force-cancel-promotion');
    await allAfterGoTo(traffic.answers, 'v1', 'force-cancel');
    const e = await env('ctl');
    assert.equal(e.current_deployment_id, ids.v1);
    assert.equal(e.promotions[0]!.status, 'CANCELLED');
    assert.deepEqual(
      e.promotions[0]!.actions.map((a) => a.action),
      ['promote', 'pause', 'resume', 'force_cancel'],
      'the history records each action',
    );
    assert.ok(e.promotions[0]!.actions.every((a) => a.by.length > 0));
    const history = await platform.cli(['environments', 'history', 'production', '--model', 'ctl']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(
      history.stdout,
      /CANCELLED\s+0%\s+promote by admin at .*; pause by admin at .*; resume by admin at .*; force_cancel by admin at /,
    );

    // Again, and this time all traffic goes to the candidate at once.
    const again = await platform.cli([
      'environments',
      'promote',
      'production',
      'v2',
      '--model',
      'ctl',
      '--no-wait',
    ]);
    assert.equal(again.code, 0, again.stderr);
    const candidate = (await env('ctl')).in_progress_promotion!.to_deployment_id;
    await until(
      'the second promotion ramping',
      () => env('ctl'),
      (x) => x.in_progress_promotion?.phase === 'RAMPING',
      30_000,
    );
    await control('ctl', 'force-roll-forward-promotion');
    await allAfterGoTo(traffic.answers, 'v2', 'force-roll-forward');
    assert.equal((await env('ctl')).current_deployment_id, candidate);
  } finally {
    const answers = await traffic.stop();
    assert.deepEqual(failed(answers), [], 'no failed request');
  }
});

interface Replica {
  status: string;
}

async function replicas(model: string, id: string): Promise<Replica[]> {
  return (
    await platform.api<{ replicas: Replica[] }>('GET', `/v1/models/${model}/deployments/${id}/replicas`)
  ).body.replicas;
}

const live = (rs: Replica[]) => rs.filter((r) => r.status !== 'STOPPED' && r.status !== 'FAILED').length;
const ready = (rs: Replica[]) => rs.filter((r) => r.status === 'READY').length;

test('a rolling deploy with max_surge_percent 50 never runs more than 1.5× the replicas nor fewer ready than the old count', async () => {
  const ids = await pushVersions('roll');
  const patched = await platform.api('PATCH', '/v1/models/roll/environments/production', {
    autoscaling_settings: { min_replica: 2, max_replica: 2 },
    promotion_settings: {
      rolling_deploy: true,
      rolling_deploy_config: {
        max_surge_percent: 50,
        max_unavailable_percent: 0,
        stabilization_time_seconds: 2,
      },
    },
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  await until(
    'two ready replicas of v1',
    () => replicas('roll', ids.v1!),
    (rs) => ready(rs) === 2,
    60_000,
  );
  const traffic = load(4, () => call('roll'));
  const samples: { most: number; fewestReady: number; percent: number }[] = [];
  try {
    const promoted = await platform.cli([
      'environments',
      'promote',
      'production',
      'v2',
      '--model',
      'roll',
      '--no-wait',
    ]);
    assert.equal(promoted.code, 0, promoted.stderr);
    const candidate = (await env('roll')).in_progress_promotion!.to_deployment_id;
    assert.equal((await env('roll')).in_progress_promotion!.phase, 'ROLLING');
    for (let i = 0; i < 600; i++) {
      // The candidate only grows and the old one only shrinks: reading the candidate before and after
      // the old one bounds both counts without a false alarm from the reads' order.
      const before = await replicas('roll', candidate);
      const old = await replicas('roll', ids.v1!);
      const after = await replicas('roll', candidate);
      const e = await env('roll');
      samples.push({
        most: live(before) + live(old),
        fewestReady: ready(old) + ready(after),
        percent: e.in_progress_promotion?.traffic_percent ?? 100,
      });
      if (!e.in_progress_promotion) break;
      await sleep(100);
    }
    const e = await env('roll');
    assert.equal(e.current_deployment_id, candidate);
    assert.equal(e.promotions[0]!.status, 'SUCCEEDED');
    // Traffic followed the steps: while the old deployment still ran, part went to each.
    const doneAtMs = Date.parse(e.promotions[0]!.finished_at!);
    const during = traffic.answers.filter((a) => a.startedAtMs < doneAtMs - 500);
    const firstV2 = during.findIndex((a) => a.version === 'v2');
    assert.ok(firstV2 >= 0, 'the candidate took requests before the switch');
    assert.ok(
      during.slice(firstV2).some((a) => a.version === 'v1'),
      'the old deployment still took part of them after the candidate started to',
    );
  } finally {
    const answers = await traffic.stop();
    assert.deepEqual(failed(answers), [], 'no failed request');
  }
  assert.ok(samples.length > 5, `${samples.length} samples`);
  const most = Math.max(...samples.map((s) => s.most));
  const fewest = Math.min(...samples.map((s) => s.fewestReady));
  assert.ok(most <= 3, `at most 1.5 × 2 = 3 replicas ran (saw ${most})`);
  assert.ok(fewest >= 2, `never fewer than 2 ready (saw ${fewest})`);
  assert.ok(
    samples.some((s) => s.percent > 0 && s.percent < 100),
    'traffic moved in steps, part to each deployment',
  );
});

test('a deactivated environment answers ENVIRONMENT_INACTIVE and keeps its settings; activated, it answers again', async () => {
  await pushVersions('onoff');
  await platform.api('PATCH', '/v1/models/onoff/environments/production', {
    autoscaling_settings: { max_replica: 3 },
  });
  assert.equal((await call('onoff')).status, 200);
  await control('onoff', 'deactivate');
  const res = await fetch(`${platform.url}/models/onoff/environments/production/predict`, {
    method: 'POST',
    body: '{}',
  });
  const body = (await res.json()) as { error: { code: string } };
  assert.deepEqual([res.status, body.error.code], [404, 'ENVIRONMENT_INACTIVE']);
  const off = await env('onoff');
  assert.equal(off.is_active, false);
  assert.equal(off.autoscaling_settings.max_replica, 3, 'its settings are kept');
  const refused = await platform.cli(['environments', 'promote', 'production', 'v2', '--model', 'onoff']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /inactive; activate it/);
  await control('onoff', 'activate');
  await until(
    'the environment answering again',
    () => call('onoff'),
    (a) => a.status === 200,
    30_000,
  );
  assert.equal((await env('onoff')).is_active, true);
});

test('redeploy_on_promotion promotes a fresh deployment of the candidate’s bundle', async () => {
  const ids = await pushVersions('fresh');
  await platform.api('PATCH', '/v1/models/fresh/environments/production', {
    promotion_settings: { redeploy_on_promotion: true },
  });
  const r = await platform.cli(['environments', 'promote', 'production', 'v2', '--model', 'fresh']);
  assert.equal(r.code, 0, r.stderr);
  const e = await env('fresh');
  assert.notEqual(e.current_deployment_id, ids.v2);
  const get = async (id: string) =>
    (await platform.api<{ bundle_sha256?: string; id: string }>('GET', `/v1/models/fresh/deployments/${id}`))
      .body;
  const [fresh, source] = [await get(e.current_deployment_id!), await get(ids.v2!)];
  assert.ok(fresh.bundle_sha256 && fresh.bundle_sha256 === source.bundle_sha256, 'the same bundle');
  assert.equal((await call('fresh')).version, 'v2');
});

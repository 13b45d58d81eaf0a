// e2e: `plinth up --deactivate-after-idle 3s`. A deployment called once and then left alone is
// deactivated (DEACTIVATING → INACTIVE, "no traffic for 3s" as the event's reason, a platform log
// line, its URL answering 404 DEPLOYMENT_INACTIVE), while one called every second stays ACTIVE.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sleep } from '../support/wait.ts';
import { writeTree } from '../support/write-tree.ts';
import { pushed, startPlatform, until } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-idle-'));

before(async () => {
  platform = await startPlatform(undefined, ['--deactivate-after-idle', '3s']);
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const MODEL = 'export class Model { predict() { return { ok: true }; } }\n';

async function call(model: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${platform.url}/models/${model}/production/predict`, {
    method: 'POST',
    body: '{}',
  });
  return { status: res.status, body: await res.text() };
}

interface Event {
  from: string | null;
  to: string;
  reason: string;
}

const events = async (model: string, id: string) =>
  (await platform.api<{ events: Event[] }>('GET', `/v1/models/${model}/deployments/${id}/events`)).body
    .events;
const statusOf = async (model: string, id: string) =>
  (await platform.api<{ status: string }>('GET', `/v1/models/${model}/deployments/${id}`)).body.status;

test('a deployment left without traffic is deactivated; one called every second stays ACTIVE', async () => {
  await until(
    'the start-up line that says so',
    async () => platform.output(),
    (out) => /Inactivity: deployments are deactivated after no traffic for 3s/.test(out),
    10_000,
  );
  const quiet = await pushed(
    platform,
    writeTree(join(scratch, 'quiet'), { 'config.yaml': 'model_name: quiet\n', 'model/model.ts': MODEL }),
  );
  assert.equal((await call('quiet')).status, 200);
  const busy = await pushed(
    platform,
    writeTree(join(scratch, 'busy'), { 'config.yaml': 'model_name: busy\n', 'model/model.ts': MODEL }),
  );

  let calling = true;
  const busyStatuses: number[] = [];
  const caller = (async () => {
    while (calling) {
      busyStatuses.push((await call('busy')).status);
      await sleep(1000);
    }
  })();
  try {
    await until(
      'quiet is INACTIVE',
      () => statusOf('quiet', quiet.deployment_id),
      (s) => s === 'INACTIVE',
      30_000,
    );
    const moves = await events('quiet', quiet.deployment_id);
    const deactivating = moves.find((e) => e.to === 'DEACTIVATING');
    assert.deepEqual(
      [deactivating?.from, deactivating?.reason],
      ['ACTIVE', 'no traffic for 3s'],
      JSON.stringify(moves),
    );
    assert.equal(moves.at(-1)!.to, 'INACTIVE');
    const lines = await until(
      'the platform log line',
      async () =>
        (
          await platform.api<{ logs: { source: string; message: string }[] }>(
            'GET',
            `/v1/models/quiet/deployments/${quiet.deployment_id}/logs?search=deactivated`,
          )
        ).body.logs,
      (logs) => logs.length > 0,
      10_000,
    );
    assert.deepEqual(
      lines.map((l) => l.source),
      ['platform'],
    );
    assert.match(lines[0]!.message, /^deactivated: no traffic for 3s/);
    const refused = await call('quiet');
    assert.equal(refused.status, 404);
    assert.match(refused.body, /DEPLOYMENT_INACTIVE/);

    // Two more periods of calls, one a second: the busy deployment is never deactivated.
    await sleep(6000);
  } finally {
    calling = false;
    await caller;
  }
  assert.equal(await statusOf('busy', busy.deployment_id), 'ACTIVE');
  assert.ok(busyStatuses.length >= 6, `busy was called every second (${busyStatuses.length} calls)`);
  assert.ok(
    busyStatuses.every((s) => s === 200),
    String(busyStatuses),
  );
  assert.deepEqual(
    (await events('busy', busy.deployment_id)).filter((e) => e.to === 'DEACTIVATING'),
    [],
  );
});

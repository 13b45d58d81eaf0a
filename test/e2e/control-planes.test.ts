// e2e: two `plinth up` processes on one PostgreSQL store (and one home for their files): the first
// leads the control loops, the second follows; both serve the API and inference; beside them a
// `plinth gateway` serves inference only. Load through the gateways scales on the sum of what they
// count. Killing the leader hands leadership to the follower, which adopts the running replicas,
// and serving through the follower and the gateway goes on without a failure.
import { sleep } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTestDatabase } from '../support/postgres-database.ts';
import type { TestDatabase } from '../support/postgres-database.ts';
import { writeTree } from '../support/write-tree.ts';
import { load, pushTwoVersions, startTwoControlPlanes, until } from './harness.ts';
import type { Platform } from './harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-planes-'));
const home = join(scratch, 'home');
let database: TestDatabase | undefined;
const platforms: Platform[] = [];
after(async () => {
  for (const p of platforms) await p.stop({ keepHome: true });
  await database?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

test('two control planes and two gateways on PostgreSQL: scaling on the sum, leadership handed over, serving goes on', async () => {
  database = await createTestDatabase();
  const { leader: first, follower: second } = await startTwoControlPlanes(home, database.url, platforms);

  const dir = writeTree(join(scratch, 'busy'), {
    'config.yaml': 'model_name: busy\n',
    'model/model.ts':
      'export class Model {\n  async predict() {\n    await new Promise((r) => setTimeout(r, 250));\n    return { pid: process.pid };\n  }\n}\n',
  });
  // Pushed through the follower's API: the leader builds and starts it.
  const pushed = await second.cli(['push', dir]);
  assert.equal(pushed.code, 0, pushed.stderr);
  // A promotion asked of the follower's API is carried out by the leader's promotion controller.
  await pushTwoVersions(second, join(scratch, 'ramp'), 'ramp');
  const before = await fetch(`${first.url}/models/ramp/production/predict`, { method: 'POST', body: '{}' });
  assert.deepEqual(await before.json(), { version: 1 }, 'a plain push does not take production');
  const promoted = await second.cli([
    'environments',
    'promote',
    'production',
    'deployment-2',
    '--model',
    'ramp',
  ]);
  assert.equal(promoted.code, 0, promoted.stderr);
  await until(
    'production answers from deployment-2, through both control planes',
    async () =>
      Promise.all(
        [first, second].map(async (p) => {
          const res = await fetch(`${p.url}/models/ramp/production/predict`, { method: 'POST', body: '{}' });
          return ((await res.json()) as { version?: number }).version;
        }),
      ),
    (versions) => versions.every((v) => v === 2),
    60_000,
  );

  const settings = await second.cli(
    ['autoscaling', 'set', '--model', 'busy', '--environment', 'production'].concat(
      ['--min-replica', '1', '--max-replica', '6', '--concurrency-target', '1'],
      ['--target-utilization', '100', '--window', '2', '--scale-down-delay', '600'],
    ),
  );
  assert.equal(settings.code, 0, settings.stderr);

  const gatewayProcess = second.background(['gateway', '--store', database.url, '--port', '0']);
  await gatewayProcess.waitFor(/serving inference at http:\/\/\S+/);
  const gatewayUrl = /serving inference at (http:\/\/\S+)/.exec(gatewayProcess.output())![1]!;
  const call = (url: string) => async () => {
    try {
      const res = await fetch(`${url}/models/busy/production/predict`, {
        method: 'POST',
        body: '{}',
        headers: { authorization: `Api-Key ${first.apiKey}` },
      });
      const body = (await res.json()) as { pid?: number };
      return { at: Date.now(), status: res.status, pid: body.pid };
    } catch {
      return { at: Date.now(), status: 0, pid: undefined };
    }
  };
  const replicas = async () =>
    (await second.api<{ active_replica_count: number }>('GET', '/v1/models/busy/deployments/production')).body
      .active_replica_count;

  // Two clients through the leader, one through the follower, one through the gateway: no process
  // alone counts more than 2, so only the sum (4) asks for 4 replicas.
  const viaFirst = load(2, call(first.url), 120_000);
  const viaSecond = load(1, call(second.url), 180_000);
  const viaGateway = load(1, call(gatewayUrl), 180_000);
  await until('scaled on the sum of both gateways', replicas, (n) => n >= 4, 60_000);
  await viaFirst.stop();
  await sleep(1000);
  const pidsBefore = new Set([...viaSecond.answers, ...viaGateway.answers].map((a) => a.pid));

  const killedAt = Date.now();
  await first.crash();
  await until(
    'the follower leads',
    async () => second.output(),
    (out) => /Leading the control plane now/.test(out),
    20_000,
  );
  await sleep(3000);
  const answers = [...(await viaSecond.stop()), ...(await viaGateway.stop())];

  const afterKill = answers.filter((a) => a.at > killedAt);
  assert.ok(afterKill.length > 10, `answered after the kill: ${afterKill.length}`);
  assert.deepEqual(
    answers.filter((a) => a.status !== 200),
    [],
    'no request through the surviving gateways failed, before, during or after the handover',
  );
  assert.ok(
    viaGateway.answers.filter((a) => a.at > killedAt).length > 5,
    'the inference-only gateway served on through the handover',
  );
  const pidsAfter = new Set(afterKill.map((a) => a.pid));
  assert.ok(
    [...pidsAfter].every((pid) => pidsBefore.has(pid)),
    'the replicas that serve after the handover are the ones that ran before it (adopted)',
  );
  assert.match(second.output(), /Leading the control plane now/);

  // The new leader runs the control loops: a new push is built and served.
  const again = await second.cli(['push', dir]);
  assert.equal(again.code, 0, again.stderr);
  const health = await fetch(`${gatewayUrl}/healthz`);
  assert.equal(((await health.json()) as { role: string }).role, 'gateway');
  const notApi = await fetch(`${gatewayUrl}/v1/models`);
  assert.equal(notApi.status, 404, 'a gateway serves no management API');
  await gatewayProcess.stop();
});

// The reliability run: continuous load through promotion, scale up and down, SIGKILL of a replica,
// and SIGKILL and restart of the server. It reports requests sent, answered and failed by cause,
// and asserts that no accepted request was lost except those in flight on a killed process, and
// that the state is intact after the restart (what serves; the replicas, adopted rather than started
// again; no orphaned process once the server stops).
import { sleep, until } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-rel-'));
const home = join(scratch, 'home');
let platform: Platform;
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

type Outcome = {
  at: number;
  kind: 'ok' | 'http' | 'refused' | 'lost';
  status?: number;
  pid?: number;
  version?: number;
};

const model = (version: number) => `export class Model {
  async predict() {
    await new Promise((r) => setTimeout(r, 40));
    return { version: ${version}, pid: process.pid };
  }
}\n`;

test('under load: promote, scale, SIGKILL a replica, SIGKILL and restart the server — nothing accepted is lost but what the killed processes held', async () => {
  platform = await startPlatform(home);
  const dir = writeTree(join(scratch, 'steady'), {
    'config.yaml': 'model_name: steady\nruntime:\n  predict_concurrency: 2\n',
    'model/model.ts': model(1),
  });
  assert.equal((await platform.cli(['push', dir])).code, 0);
  const scale = async (n: number) => {
    const r = await platform.cli([
      'autoscaling',
      'set',
      '--model',
      'steady',
      '--environment',
      'production',
      '--min-replica',
      String(n),
      '--max-replica',
      String(n),
    ]);
    assert.equal(r.code, 0, r.stderr);
  };
  const ready = async (n: number) =>
    until(`${n} ready replicas`, async () => {
      const d = await platform.api<{ active_replica_count: number }>(
        'GET',
        '/v1/models/steady/deployments/production',
      );
      return d.body.active_replica_count === n;
    });
  await scale(2);
  await ready(2);

  // Four clients send without pause; each request's fate is recorded with its cause.
  const outcomes: Outcome[] = [];
  let running = true;
  const deadline = Date.now() + 240_000; // a failed step must not leave the clients running forever
  const marks = { replicaKill: 0, serverKill: 0, serverBack: 0 };
  const clients = Array.from({ length: 4 }, async () => {
    while (running && Date.now() < deadline) {
      const at = Date.now();
      try {
        const res = await fetch(`${platform.url}/models/steady/production/predict`, {
          method: 'POST',
          body: '{}',
        });
        const body = (await res.json()) as { pid?: number; version?: number };
        outcomes.push(
          res.ok
            ? { at, kind: 'ok', pid: body.pid, version: body.version }
            : { at, kind: 'http', status: res.status },
        );
      } catch (err) {
        const code = ((err as { cause?: { code?: string } }).cause?.code ?? '') as string;
        outcomes.push({ at, kind: code === 'ECONNREFUSED' ? 'refused' : 'lost' });
        await sleep(50);
      }
    }
  });

  await sleep(1000);
  writeTree(dir, { 'model/model.ts': model(2) });
  const promoted = await platform.cli(['push', dir, '--promote']);
  assert.equal(promoted.code, 0, promoted.stderr);
  await scale(3);
  await ready(3);
  await scale(1);
  await ready(1);
  await sleep(1000);

  const victim = outcomes.filter((o) => o.kind === 'ok').at(-1)!.pid!;
  marks.replicaKill = Date.now();
  process.kill(victim, 'SIGKILL');
  await sleep(3000);

  const pidsBefore = [
    ...new Set(outcomes.filter((o) => o.kind === 'ok' && o.at > marks.replicaKill).map((o) => o.pid!)),
  ];
  marks.serverKill = Date.now();
  await platform.crash();
  await sleep(500);
  platform = await startPlatform(home);
  marks.serverBack = Date.now();
  await until(
    'answers again after the restart',
    async () => outcomes.at(-1)?.kind === 'ok' && outcomes.at(-1)!.at > marks.serverBack,
    Boolean,
    60_000,
  );
  await sleep(2000);
  running = false;
  await Promise.all(clients);

  const count = (kind: Outcome['kind']) => outcomes.filter((o) => o.kind === kind).length;
  const report = {
    sent: outcomes.length,
    answered: count('ok'),
    failed_http: outcomes.filter((o) => o.kind === 'http').map((o) => o.status),
    refused_while_the_server_was_down: count('refused'),
    lost_in_flight: count('lost'),
  };
  console.log(`reliability run: ${JSON.stringify(report)}`);

  // A replica killed mid-request loses what it held (predict_concurrency 2), answered 503.
  const httpFailures = outcomes.filter((o) => o.kind === 'http');
  assert.ok(httpFailures.length <= 2, `HTTP failures: ${JSON.stringify(httpFailures)}`);
  assert.ok(
    httpFailures.every(
      (o) => o.status === 503 && o.at >= marks.replicaKill - 1000 && o.at < marks.serverKill,
    ),
  );
  // The server's own kill loses what was in flight through it: at most one request per client.
  const lost = outcomes.filter((o) => o.kind === 'lost');
  assert.ok(lost.length <= 4, `lost: ${lost.length}`);
  assert.ok(lost.every((o) => o.at >= marks.serverKill - 1000 && o.at <= marks.serverBack));
  assert.ok(
    outcomes
      .filter((o) => o.kind === 'refused')
      .every((o) => o.at >= marks.serverKill - 1000 && o.at <= marks.serverBack),
  );
  assert.ok(report.answered > 100, `answered ${report.answered}`);
  assert.ok(
    outcomes.filter((o) => o.kind === 'ok' && o.at > marks.serverBack).every((o) => o.version === 2),
    'the promoted code serves after the restart',
  );

  // State after the restart: production serves deployment-2, scaled as it was, by the very
  // replica processes the killed server left running (adopted, not started again).
  const env = await platform.api<{ current_deployment: { name: string; status: string } }>(
    'GET',
    '/v1/models/steady/environments/production',
  );
  assert.deepEqual(
    [env.body.current_deployment.name, env.body.current_deployment.status],
    ['deployment-2', 'ACTIVE'],
  );
  await ready(1);
  const pidsAfter = new Set(
    outcomes.filter((o) => o.kind === 'ok' && o.at > marks.serverBack).map((o) => o.pid!),
  );
  assert.deepEqual([...pidsAfter], pidsBefore, 'the replica serving after the restart is the adopted one');
  assert.match(platform.output(), /Adopted 1 replica\(s\) left running by the previous server/);

  // A graceful stop ends every replica: none is orphaned.
  await platform.stop({ keepHome: true });
  await until(
    'no replica left once the server stopped',
    async () =>
      pidsBefore.every((pid) => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }),
    Boolean,
    10_000,
  );
});

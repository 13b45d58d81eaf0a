// e2e: a `plinth gateway` (beside a control plane on PostgreSQL) serves on through replicas being
// replaced: an instance-type change rolls the deployment's replicas new before old, and a request
// through the gateway must never meet a replica that is already stopping.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTestDatabase } from '../support/postgres-database.ts';
import type { TestDatabase } from '../support/postgres-database.ts';
import { sleep, until } from '../support/wait.ts';
import { writeTree } from '../support/write-tree.ts';
import { load, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-roll-'));
let database: TestDatabase | undefined;
let platform: Platform | undefined;
after(async () => {
  await platform?.stop();
  await database?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

test('through a gateway, no request fails while instance-type changes replace the replicas, new before old', async () => {
  database = await createTestDatabase();
  platform = await startPlatform(undefined, ['--store', database.url]);
  const dir = writeTree(join(scratch, 'rolling'), {
    'config.yaml': 'model_name: rolling\nruntime:\n  predict_concurrency: 4\n',
    'model/model.ts':
      'export class Model {\n  async predict() {\n    await new Promise((r) => setTimeout(r, 20));\n    return { pid: process.pid };\n  }\n}\n',
  });
  assert.equal((await platform.cli(['push', dir])).code, 0);
  const gateway = platform.background(['gateway', '--store', database.url, '--port', '0']);
  try {
    await gateway.waitFor(/serving inference at http:\/\/\S+/);
    const gatewayUrl = /serving inference at (http:\/\/\S+)/.exec(gateway.output())![1]!;
    const clients = load(4, async () => {
      try {
        const res = await fetch(`${gatewayUrl}/models/rolling/production/predict`, {
          method: 'POST',
          body: '{}',
          headers: { authorization: `Api-Key ${platform!.apiKey}` },
        });
        const body = (await res.json()) as { pid?: number; error?: { code: string; message: string } };
        return {
          at: Date.now(),
          status: res.status,
          pid: body.pid,
          code: body.error?.code,
          message: body.error?.message,
        };
      } catch (err) {
        return {
          at: Date.now(),
          status: 0,
          pid: undefined,
          code: 'CONNECTION',
          message: (err as Error).message,
        };
      }
    });
    const pids = new Set<number>();
    for (const type of ['1x4', '1x2', '1x4', '1x2', '1x4', '1x2']) {
      const before = new Set(clients.answers.map((a) => a.pid));
      const r = await platform.cli([
        'deployments',
        'update',
        'production',
        '--model',
        'rolling',
        '--instance-type',
        type,
      ]);
      assert.equal(r.code, 0, r.stderr);
      // Rolled: the answers come from a replica that did not answer before.
      await until(
        `a new replica on ${type} answers`,
        () => clients.answers.slice(-5),
        (last) => last.length === 5 && last.every((a) => a.pid !== undefined && !before.has(a.pid)),
        60_000,
      );
      for (const a of clients.answers) if (a.pid) pids.add(a.pid);
      await sleep(500);
    }
    const answers = await clients.stop();
    assert.ok(pids.size >= 7, `seven replicas answered in turn (${pids.size})`);
    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
      `no request failed through the gateway while the replicas were replaced (of ${answers.length})`,
    );
  } finally {
    await gateway.stop();
  }
});

// e2e: a `plinth gateway` keeps serving through a short outage of its PostgreSQL store: routes,
// resolved targets and checked keys stay as they were, requests waiting for a free replica stay
// parked and are answered, and once the store is back changes flow again.
import { sleep } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTestDatabase } from '../support/postgres-database.ts';
import type { TestDatabase } from '../support/postgres-database.ts';
import { startTcpCutter } from '../support/tcp-cutter.ts';
import type { TcpCutter } from '../support/tcp-cutter.ts';
import { writeTree } from '../support/write-tree.ts';
import { load, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-outage-'));
let database: TestDatabase | undefined;
let platform: Platform | undefined;
let cutter: TcpCutter | undefined;
after(async () => {
  await platform?.stop();
  await cutter?.close();
  await database?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

test('a gateway serves on, parked requests included, while its PostgreSQL store is unreachable for a while', async () => {
  database = await createTestDatabase();
  platform = await startPlatform(undefined, ['--store', database.url]);
  const dir = writeTree(join(scratch, 'steady'), {
    'config.yaml': 'model_name: steady\n',
    'model/model.ts':
      'export class Model {\n  async predict() {\n    await new Promise((r) => setTimeout(r, 100));\n    return { ok: true };\n  }\n}\n',
  });
  assert.equal((await platform.cli(['push', dir])).code, 0);

  // The gateway reaches the store through a connection the test can cut.
  const url = new URL(database.url);
  cutter = await startTcpCutter(url.hostname, Number(url.port));
  url.port = String(cutter.port);
  const gateway = platform.background(['gateway', '--store', url.toString(), '--port', '0']);
  try {
    await outageThenRevocation(gateway, platform, cutter);
  } finally {
    await gateway.stop();
  }
});

async function outageThenRevocation(
  gateway: ReturnType<Platform['background']>,
  platform: Platform,
  cutter: TcpCutter,
): Promise<void> {
  await gateway.waitFor(/serving inference at http:\/\/\S+/);
  const gatewayUrl = /serving inference at (http:\/\/\S+)/.exec(gateway.output())![1]!;

  // Three clients on one replica that takes one request at a time: two always wait, parked.
  const answers = load(3, async () => {
    try {
      const res = await fetch(`${gatewayUrl}/models/steady/production/predict`, {
        method: 'POST',
        body: '{}',
        headers: { authorization: `Api-Key ${platform.apiKey}` },
      });
      await res.arrayBuffer();
      return { at: Date.now(), status: res.status };
    } catch (err) {
      // A connection that failed is a failed request too, with what the socket said.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return {
        at: Date.now(),
        status: 0,
        error: `${(err as Error).message}: ${cause?.code ?? cause?.message ?? ''}`,
      };
    }
  });
  await sleep(2000);
  const cutAt = Date.now();
  cutter.cut();
  await sleep(7000); // longer than the gateway's route cache and its key re-check
  const restoredAt = Date.now();
  cutter.restore();
  await sleep(3000);
  const all = await answers.stop();

  const failed = all.filter((a) => a.status !== 200);
  assert.deepEqual(
    failed,
    [],
    `no request failed before, during or after the outage (cut at ${cutAt}, restored at ${restoredAt}); the gateway said:\n${gateway.output().slice(-3000)}`,
  );
  const during = all.filter((a) => a.at > cutAt + 500 && a.at < restoredAt);
  assert.ok(during.length > 20, `answered while the store was unreachable: ${during.length}`);

  // Back in touch: a key revoked now is refused by the gateway.
  const created = await platform.cli([
    'keys',
    'create',
    'short-lived',
    '--scope',
    'inference',
    '--output',
    'json',
  ]);
  assert.equal(created.code, 0, created.stderr);
  const { id, api_key: key } = JSON.parse(created.stdout) as { id: string; api_key: string };
  const callWith = async (k: string) =>
    (
      await fetch(`${gatewayUrl}/models/steady/production/predict`, {
        method: 'POST',
        body: '{}',
        headers: { authorization: `Api-Key ${k}` },
      })
    ).status;
  assert.equal(await callWith(key), 200);
  assert.equal((await platform.cli(['keys', 'revoke', id])).code, 0);
  const deadline = Date.now() + 10_000;
  while ((await callWith(key)) !== 401) {
    assert.ok(Date.now() < deadline, 'the revocation reached the gateway');
    await sleep(100);
  }
}

// e2e: the activator's limits: a full queue answers 429 with Retry-After, and a request parked
// longer than the park timeout answers 504 — both with a message that says why.
import { sleep } from '../support/wait.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-queue-'));

before(async () => {
  platform = await startPlatform(undefined, ['--max-queue', '2', '--park-timeout', '2']);
  const dir = writeTree(join(scratch, 'slowload'), {
    'config.yaml': 'model_name: slowload\n',
    'model/model.ts': `export class Model {
  async load() { await new Promise((r) => setTimeout(r, 60_000)); }
  predict() { return { ok: true }; }
}\n`,
  });
  const r = await platform.cli(['push', dir, '--no-wait']);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('a full queue answers 429 with Retry-After; parked requests past the timeout answer 504', async () => {
  const send = () =>
    fetch(`${platform.url}/models/slowload/production/predict`, { method: 'POST', body: '{}' });
  const first = send();
  const second = send();
  await sleep(300);
  const third = await send();
  assert.equal(third.status, 429);
  assert.equal(third.headers.get('retry-after'), '1');
  assert.equal(((await third.json()) as { error: { code: string } }).error.code, 'QUEUE_FULL');
  for (const parked of [await first, await second]) {
    assert.equal(parked.status, 504);
    const body = (await parked.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'GATEWAY_TIMEOUT');
    assert.match(
      body.error.message,
      /no replica became available within 2 s; the model may still be loading/,
    );
  }
});

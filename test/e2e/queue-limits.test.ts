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

test('clients that hang up while parked leave the queue: the next real request parks instead of 429', async () => {
  const url = `${platform.url}/models/slowload/production/predict`;
  // Six clients (three times the queue) give up after 0.3 s, as impatient clients do.
  const impatient = Array.from({ length: 6 }, async () => {
    const controller = new AbortController();
    const sent = fetch(url, { method: 'POST', body: '{}', signal: controller.signal }).catch(() => null);
    await sleep(300);
    controller.abort();
    return sent;
  });
  await Promise.all(impatient);
  await sleep(200);
  const real = await fetch(url, { method: 'POST', body: '{}' });
  const body = (await real.json()) as { error: { code: string } };
  assert.equal(
    body.error.code,
    'GATEWAY_TIMEOUT',
    'it waited its turn (the model never loads) rather than QUEUE_FULL',
  );
  assert.equal(real.status, 504);
});

// The async workers against a real SQLite store and a real HTTP server standing where the gateway
// is: what each answer means for a request (kept output, a retry with backoff, a final 4xx), an
// answer cut off mid-body (a retry, never a crash), and no more claimed than the replicas take.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { until } from '../../test/support/wait.ts';
import type { AsyncRequest, NewAsyncRequest } from '../domain/async-requests.ts';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { AsyncWorker } from './async-worker.ts';

const store = await openSqliteStore(':memory:');
const model = await store.createModel('worked');
const deployment = await store.createDeployment(deploymentInput(model.id));

let inFlight = 0;
let peak = 0;
/** What the stand-in gateway does with a request, by its input's `mode`. */
async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const input = JSON.parse(Buffer.concat(chunks).toString()) as { mode: string; n?: number };
  inFlight++;
  peak = Math.max(peak, inFlight);
  await new Promise((r) => setTimeout(r, 20));
  inFlight--;
  if (req.headers['x-plinth-internal'] !== 'token-1') return void res.writeHead(401).end();
  if (input.mode === 'ok') return void res.writeHead(200).end(JSON.stringify({ n: input.n ?? 0 }));
  if (input.mode === 'text') return void res.writeHead(200).end('plain words');
  if (input.mode === 'error')
    return void res
      .writeHead(500)
      .end(JSON.stringify({ error: { code: 'MODEL_ERROR', message: 'the model raised' } }));
  if (input.mode === 'refuse') return void res.writeHead(422).end('{"detail": "no such input"}');
  // `cut`: headers and a part of the body, then the connection is dropped.
  res.writeHead(200, { 'content-length': '1000' });
  res.write('{"partial": ');
  setTimeout(() => res.socket?.destroy(), 10);
}
const gateway = createServer((req, res) => void answer(req, res));
await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
const settled: AsyncRequest[] = [];
const worker = new AsyncWorker({
  store,
  gatewayUrl: () => `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`,
  internalToken: 'token-1',
  capacityOf: () => 3,
  isLeading: () => true,
  retentionMs: 3_600_000,
  onSettled: (r) => settled.push(r),
  intervalMs: 20,
});
worker.start();
after(async () => {
  await worker.stop();
  gateway.closeAllConnections();
  gateway.close();
  await store.close();
});

const enqueue = (input: unknown, over: Partial<NewAsyncRequest> = {}) =>
  store.enqueueAsync({
    model_id: model.id,
    deployment_id: deployment.id,
    environment: 'production',
    priority: 1,
    input_json: JSON.stringify(input),
    webhook_endpoint: null,
    max_time_in_queue_s: 600,
    retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 20 },
    ...over,
  });

const finished = (id: string) =>
  until(
    `request ${id} finished`,
    async () => store.getAsync(id),
    (r) => r !== undefined && r.status !== 'QUEUED' && r.status !== 'IN_PROGRESS',
    10_000,
    20,
  ) as Promise<AsyncRequest>;

test('an answer is kept as the output (JSON as JSON, text as a JSON string)', async () => {
  const json = await finished((await enqueue({ mode: 'ok', n: 7 })).id);
  assert.deepEqual([json.status, json.attempts, JSON.parse(json.output_json!)], ['SUCCEEDED', 1, { n: 7 }]);
  assert.ok(json.output_expires_ms! > Date.now());
  const text = await finished((await enqueue({ mode: 'text' })).id);
  assert.equal(JSON.parse(text.output_json!), 'plain words');
});

test('a failed call is retried with backoff until max_attempts, then FAILED with each error', async () => {
  const r = await finished((await enqueue({ mode: 'error' })).id);
  assert.equal(r.status, 'FAILED');
  assert.equal(r.attempts, 3);
  assert.deepEqual(
    r.errors.map((e) => e.code),
    ['MODEL_ERROR', 'MODEL_ERROR', 'MODEL_ERROR'],
  );
});

test('a 4xx from the model is final; an answer cut off mid-body is retried, and the worker lives on', async () => {
  const refused = await finished((await enqueue({ mode: 'refuse' })).id);
  assert.deepEqual([refused.status, refused.attempts, refused.errors[0]!.code], ['FAILED', 1, 'HTTP_422']);
  const cut = await finished(
    (await enqueue({ mode: 'cut' }, { retry: { max_attempts: 2, initial_delay_ms: 10, max_delay_ms: 10 } }))
      .id,
  );
  assert.deepEqual([cut.status, cut.attempts], ['FAILED', 2]);
  assert.equal(cut.errors[0]!.code, 'REPLICA_UNAVAILABLE');
  const after = await finished((await enqueue({ mode: 'ok', n: 1 })).id);
  assert.equal(after.status, 'SUCCEEDED', 'still working');
});

test('no more requests are in flight than the replicas take', async () => {
  peak = 0;
  const ids = await Promise.all(Array.from({ length: 12 }, (_, n) => enqueue({ mode: 'ok', n })));
  for (const r of ids) assert.equal((await finished(r.id)).status, 'SUCCEEDED');
  assert.ok(peak <= 3, `peak ${peak} calls at once`);
  assert.ok(peak >= 2, `peak ${peak}: they do run side by side`);
});

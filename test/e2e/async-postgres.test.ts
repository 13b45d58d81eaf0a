// e2e: async requests on PostgreSQL with two control planes. Requests are accepted by the follower,
// run by the leader's workers; a SIGKILL of the leader with 500 requests queued and 10 in progress loses
// none: the follower takes the lead, takes back the dead leader's requests when their leases end,
// and every request reaches SUCCEEDED.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTestDatabase } from '../support/postgres-database.ts';
import type { TestDatabase } from '../support/postgres-database.ts';
import { writeTree } from '../support/write-tree.ts';
import { startTwoControlPlanes, until } from './harness.ts';
import type { Platform } from './harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-async-pg-'));
const home = join(scratch, 'home');
let database: TestDatabase | undefined;
const platforms: Platform[] = [];
after(async () => {
  for (const p of platforms) await p.stop({ keepHome: true });
  await database?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

interface QueueStatus {
  num_queued_requests: number;
  num_in_progress_requests: number;
}

test('a SIGKILL of the leader with async requests queued and in progress loses none', async () => {
  database = await createTestDatabase();
  const { leader: first, follower: second } = await startTwoControlPlanes(home, database.url, platforms);
  const dir = writeTree(join(scratch, 'queued'), {
    'config.yaml':
      'model_name: queued\nruntime:\n  predict_concurrency: 10\nautoscaling:\n  min_replica: 1\n  max_replica: 1\n',
    'model/model.ts':
      'export class Model {\n  async predict(input) {\n    await new Promise((r) => setTimeout(r, 200));\n    return { n: input.n };\n  }\n}\n',
  });
  const pushed = await second.cli(['push', dir]);
  assert.equal(pushed.code, 0, pushed.stderr);

  // Accepted by the follower; run by the leader.
  const ids: string[] = [];
  for (let i = 0; i < 510; i++) {
    const res = await fetch(`${second.url}/models/queued/production/async_predict`, {
      method: 'POST',
      body: JSON.stringify({ model_input: { n: i } }),
    });
    assert.equal(res.status, 201);
    ids.push(((await res.json()) as { request_id: string }).request_id);
  }
  const queueStatus = async (p: Platform): Promise<QueueStatus> =>
    (await (await fetch(`${p.url}/models/queued/production/async_queue_status`)).json()) as QueueStatus;
  await until(
    'some in progress',
    () => queueStatus(second),
    (s) => s.num_in_progress_requests >= 10,
    60_000,
  );
  await first.crash();
  await until(
    'the second leads',
    async () => second.output(),
    (out) => /Leading the control plane now/.test(out),
    60_000,
  );
  await until(
    'every request finished',
    () => queueStatus(second),
    (s) => s.num_queued_requests === 0 && s.num_in_progress_requests === 0,
    240_000,
    1000,
  );
  for (const id of ids) {
    const res = await fetch(`${second.url}/models/queued/production/async_request/${id}`);
    const body = (await res.json()) as { status: string; output?: { n: number } };
    assert.equal(body.status, 'SUCCEEDED', `${id}: ${JSON.stringify(body)}`);
  }
});

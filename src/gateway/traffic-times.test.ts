// Last request times: many requests make one store write per interval, a refused write is tried
// again, and what was written is there after the store is opened again (a restart).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteStore } from '../store/sqlite/open.ts';
import type { TrafficTime } from '../store/store.ts';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { TrafficTimes } from './traffic-times.ts';

test('a thousand requests are one write per interval, and the times outlive the store being reopened', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-traffic-'));
  try {
    const file = join(dir, 'plinth.db');
    const store = await openSqliteStore(file);
    const model = await store.createModel('busy');
    const a = await store.createDeployment(deploymentInput(model.id, { name: 'a' }));
    const b = await store.createDeployment(deploymentInput(model.id, { name: 'b' }));
    const writes: TrafficTime[][] = [];
    let now = 1_000_000;
    const times = new TrafficTimes(
      {
        recordTraffic: async (t) => {
          writes.push([...t]);
          await store.recordTraffic(t);
        },
      },
      () => now,
    );
    for (let i = 0; i < 1000; i++) {
      now++;
      times.note(i % 2 ? a.id : b.id);
    }
    await times.flush();
    await times.flush();
    assert.equal(writes.length, 1, 'one write for the interval, none when nothing happened since');
    assert.deepEqual(
      writes[0]!.sort((x, y) => x.last_request_ms - y.last_request_ms),
      [
        { deployment_id: b.id, last_request_ms: 1_000_999 },
        { deployment_id: a.id, last_request_ms: 1_001_000 },
      ],
    );
    assert.equal(times.lastOf(a.id), 1_001_000);
    await store.close();

    const reopened = await openSqliteStore(file);
    assert.deepEqual(
      await reopened.lastTraffic(),
      new Map([
        [a.id, 1_001_000],
        [b.id, 1_000_999],
      ]),
    );
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a write the store refuses is made at the next flush, with the latest time', async () => {
  let refuse = true;
  const written: TrafficTime[] = [];
  let now = 5000;
  const times = new TrafficTimes(
    {
      recordTraffic: async (t) => {
        if (refuse) throw new Error('the store is away');
        written.push(...t);
      },
    },
    () => now,
  );
  times.note('d1');
  await assert.rejects(times.flush(), /the store is away/);
  refuse = false;
  now = 7000;
  times.note('d1');
  times.note('d2');
  times.forget('d2');
  await times.flush();
  assert.deepEqual(written, [{ deployment_id: 'd1', last_request_ms: 7000 }]);
});

// The chaos plan is a pure function of the seed: replaying a seed replays the operations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kindsOf, planOperations } from './plan.ts';

test('the same seed plans the same operations; another seed plans others', () => {
  assert.deepEqual(planOperations(7, 'sqlite', 600_000), planOperations(7, 'sqlite', 600_000));
  assert.notDeepEqual(planOperations(7, 'sqlite', 600_000), planOperations(8, 'sqlite', 600_000));
});

test('a longer run plans the same operations first, then more', () => {
  const short = planOperations(3, 'postgres', 60_000);
  const long = planOperations(3, 'postgres', 600_000);
  assert.deepEqual(long.slice(0, short.length), short);
  assert.ok(long.length > short.length);
});

test("operations come every 2–5 s, of the world's kinds, with bounded faults", () => {
  for (const store of ['sqlite', 'postgres'] as const) {
    const ops = planOperations(11, store, 3_600_000);
    const kinds = new Set(kindsOf(store));
    assert.deepEqual(new Set(ops.map((o) => o.kind)), kinds, `${store}: every kind is planned in an hour`);
    ops.forEach((o, i) => {
      assert.ok(o.atMs < 3_600_000);
      if (i > 0) assert.ok(o.atMs - ops[i - 1]!.atMs >= 2000 && o.atMs - ops[i - 1]!.atMs <= 5000);
      assert.ok(o.durationMs <= 5000 && o.pick >= 0 && o.pick < 1 && o.model >= 0 && o.model < 2);
    });
  }
  assert.ok(!planOperations(11, 'sqlite', 3_600_000).some((o) => o.kind === 'kill-leader'));
});

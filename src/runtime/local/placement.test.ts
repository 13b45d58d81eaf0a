import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Inventory } from './placement.ts';

const GiB = 1024 ** 3;
const box = () =>
  new Inventory({
    cpu: 16,
    memoryBytes: 64 * GiB,
    gpus: [
      { index: 0, kind: 'L4' },
      { index: 1, kind: 'H100' },
      { index: 2, kind: 'L4' },
    ],
  });
const l4 = (count = 1) => ({ cpuMillis: 4000, memoryBytes: 16 * GiB, accelerator: { kind: 'L4', count } });

test('GPUs are assigned exclusively, by kind', () => {
  const inv = box();
  assert.deepEqual(inv.place('r1', l4()), { ok: true, gpus: [0] });
  assert.deepEqual(inv.place('r2', l4()), { ok: true, gpus: [2] });
  assert.deepEqual(inv.place('r3', l4()), { ok: false, reason: 'needs 1× L4, 0 of 2 free' });
  assert.deepEqual(inv.place('r4', { ...l4(), accelerator: { kind: 'H100', count: 1 } }), {
    ok: true,
    gpus: [1],
  });
  assert.deepEqual(inv.gpusInUse(), [0, 1, 2]);
});

test('a replica that does not fit stays out with the reason, and fits once another is released', () => {
  const inv = box();
  assert.equal(inv.place('r1', l4(2)).ok, true);
  assert.deepEqual(inv.place('r2', l4()), { ok: false, reason: 'needs 1× L4, 0 of 2 free' });
  assert.deepEqual(inv.place('r3', { ...l4(), accelerator: { kind: 'A100', count: 1 } }), {
    ok: false,
    reason: 'needs 1× A100, 0 of 0 free',
  });
  inv.release('r1');
  assert.deepEqual(inv.place('r2', l4()), { ok: true, gpus: [0] });
});

test('memory is reserved; CPU only has to exist on the host', () => {
  const inv = box();
  const cpuOnly = { cpuMillis: 8000, memoryBytes: 32 * GiB, accelerator: null };
  assert.equal(inv.place('a', cpuOnly).ok, true);
  assert.equal(inv.place('b', cpuOnly).ok, true);
  assert.deepEqual(inv.place('c', cpuOnly), { ok: false, reason: 'needs 32Gi memory, 0 of 64Gi free' });
  assert.deepEqual(inv.place('d', { cpuMillis: 32000, memoryBytes: 1, accelerator: null }), {
    ok: false,
    reason: 'needs 32 CPUs, the host has 16',
  });
  inv.release('a');
  assert.equal(inv.place('c', cpuOnly).ok, true);
});

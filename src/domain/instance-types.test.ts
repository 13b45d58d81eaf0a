import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlinthError } from './errors.ts';
import { gpuMemoryBytesOf } from './accelerators.ts';
import { BUILT_IN_INSTANCE_TYPES, mergeCatalog, resolveInstanceType } from './instance-types.ts';

const catalog = BUILT_IN_INSTANCE_TYPES;
const resolve = (r: Parameters<typeof resolveInstanceType>[0]) => resolveInstanceType(r, catalog).name;
const refused = (r: Parameters<typeof resolveInstanceType>[0], pattern: RegExp): void =>
  assert.throws(
    () => resolveInstanceType(r, catalog),
    (err: unknown) =>
      err instanceof PlinthError && err.code === 'INVALID_CONFIG' && pattern.test(err.message),
  );

// Truss's Accelerator enum: every kind it accepts deploys here.
const TRUSS_KINDS = [
  'B10',
  'T4',
  'L4',
  'A10G',
  'V100',
  'A100',
  'A100_40GB',
  'H100',
  'H200',
  'H100_40GB',
  'B200',
  'L40S',
  'RTX_PRO_6000',
];

test("the catalog has CPU sizes and every kind of Truss's with 1, 2, 4 and 8 GPUs, each with its memory and price", () => {
  for (const kind of TRUSS_KINDS) {
    assert.ok((gpuMemoryBytesOf(kind, 1) ?? 0) >= 16 * 1024 ** 3, `${kind}: GPU memory`);
    assert.equal(resolve({ accelerator: kind }).split(':')[0], kind, `accelerator: ${kind} resolves`);
  }
  for (const kind of TRUSS_KINDS)
    for (const n of [1, 2, 4, 8])
      assert.ok(
        catalog.some((t) => t.accelerator?.kind === kind && t.accelerator.count === n),
        `${n}× ${kind}`,
      );
  assert.ok(catalog.some((t) => t.name === '1x2' && t.accelerator === null));
  assert.ok(
    catalog.every((t) => (t.pricePerHour ?? 0) > 0),
    'every type has a price',
  );
  assert.equal(new Set(catalog.map((t) => t.name)).size, catalog.length, 'names are unique');
});

test('resources resolve to the smallest type that satisfies them', () => {
  assert.equal(resolve({}), '1x2');
  assert.equal(resolve({ cpu: '500m', memory: '512Mi' }), '1x2');
  assert.equal(resolve({ cpu: '2' }), '2x8');
  assert.equal(resolve({ memory: '3Gi' }), '1x4');
  assert.equal(resolve({ cpu: '3', memory: '10Gi' }), '4x16');
  assert.equal(resolve({ accelerator: 'L4' }), 'L4:4x16');
  assert.equal(resolve({ accelerator: 'H100:2' }), 'H100x2:52x468');
  assert.equal(resolve({ accelerator: 'L4', cpu: '6' }), 'L4x2:8x32', 'more CPUs than one L4 type has');
  assert.equal(resolve({ accelerator: 'A100:3' }), 'A100x4:48x576');
  assert.equal(resolve({ instance_type: 'H100:26x234', cpu: '1' }), 'H100:26x234', 'instance_type wins');
  assert.equal(resolve({ instance_type: 'l4:4x16' }), 'L4:4x16');
});

test('an impossible request is an error that says what was asked', () => {
  refused({ cpu: '64' }, /resources: no instance type is that large \(asked for 64 CPU\)/);
  refused({ accelerator: 'H100:16' }, /no instance type is that large \(asked for 16× H100\)/);
  refused(
    { accelerator: 'MI300X' },
    /no instance type has a MI300X; GPU kinds: A100, A100_40GB, A10G, B10, B200, /,
  );
  refused({ instance_type: 'huge' }, /instance_type "huge" is not a known instance type/);
  refused({ use_gpu: true }, /use_gpu is true but no accelerator/);
  refused({ memory: 'lots' }, /resources: memory: "lots" is not a memory quantity/);
});

test("the home's file adds types and replaces built-in ones by name", () => {
  const merged = mergeCatalog(catalog, [
    { name: '1x2', cpuMillis: 1000, memoryBytes: 2 * 1024 ** 3, accelerator: null, pricePerHour: 0.01 },
    {
      name: 'A6000:8x64',
      cpuMillis: 8000,
      memoryBytes: 64 * 1024 ** 3,
      accelerator: { kind: 'A6000', count: 1 },
      pricePerHour: null,
    },
  ]);
  assert.equal(merged.length, catalog.length + 1);
  assert.equal(merged.find((t) => t.name === '1x2')?.pricePerHour, 0.01);
  assert.equal(resolveInstanceType({ accelerator: 'A6000' }, merged).name, 'A6000:8x64');
});

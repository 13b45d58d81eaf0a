import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { PlinthError } from '../domain/errors.ts';
import { writeTree } from '../../test/support/write-tree.ts';
import { readInstanceTypesFile } from './instance-types-file.ts';

const scratch = scratchDir('types');

test("the home's instance_types.yaml adds types; a missing file adds none", () => {
  const dir = writeTree(join(scratch, 'ok'), {
    'instance_types.yaml':
      'instance_types:\n  - name: tiny\n    cpu: 500m\n    memory: 256Mi\n  - name: A6000:8x64\n    cpu: 8\n    memory: 64Gi\n    accelerator: A6000\n    price_per_hour: 0.8\n',
  });
  assert.deepEqual(readInstanceTypesFile(join(dir, 'instance_types.yaml')), [
    { name: 'tiny', cpuMillis: 500, memoryBytes: 256 * 1024 ** 2, accelerator: null, pricePerHour: null },
    {
      name: 'A6000:8x64',
      cpuMillis: 8000,
      memoryBytes: 64 * 1024 ** 3,
      accelerator: { kind: 'A6000', count: 1 },
      pricePerHour: 0.8,
    },
  ]);
  assert.deepEqual(readInstanceTypesFile(join(dir, 'none.yaml')), []);
});

test('a bad entry is an error naming the file and the key', () => {
  const dir = writeTree(join(scratch, 'bad'), {
    'a.yaml': 'instance_types:\n  - name: x\n    cpu: lots\n    memory: 1Gi\n',
    'b.yaml': 'instance_types:\n  - name: x\n    memory: 1Gi\n',
    'c.yaml': 'instance_type: []\n',
  });
  for (const [file, pattern] of [
    ['a.yaml', /a\.yaml: instance_types\[0\]\.cpu: "lots" is not a CPU quantity/],
    ['b.yaml', /b\.yaml: instance_types\[0\]\.cpu: /],
    ['c.yaml', /c\.yaml: /],
  ] as const) {
    assert.throws(
      () => readInstanceTypesFile(join(dir, file)),
      (err: unknown) => err instanceof PlinthError && pattern.test(err.message),
      file,
    );
  }
});

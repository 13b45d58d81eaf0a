import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PlinthError } from '../../domain/errors.ts';
import { applyCapacityOverride, discoverGpus, gpuKindOf, parseNvidiaSmi } from './capacity.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const detected = { cpu: 2, memoryBytes: 8 * 1024 ** 3, gpus: [] };

test('nvidia-smi output: one GPU, several of mixed kinds, and a host with no driver', async () => {
  assert.deepEqual(parseNvidiaSmi(fixture('nvidia-smi-one-h100.csv')), [{ index: 0, kind: 'H100' }]);
  assert.deepEqual(parseNvidiaSmi(fixture('nvidia-smi-mixed.csv')), [
    { index: 0, kind: 'L4' },
    { index: 1, kind: 'L4' },
    { index: 2, kind: 'T4' },
    { index: 3, kind: 'A100' },
    { index: 4, kind: 'L40S' },
  ]);
  assert.deepEqual(parseNvidiaSmi(fixture('nvidia-smi-no-driver.txt')), []);
  assert.deepEqual(await discoverGpus('/nonexistent/nvidia-smi'), [], 'no nvidia-smi: no GPUs');
});

test('GPU kinds are read from product names as the catalog spells them', () => {
  assert.equal(gpuKindOf('NVIDIA A10G'), 'A10G');
  assert.equal(gpuKindOf('NVIDIA H200'), 'H200');
  assert.equal(gpuKindOf('NVIDIA GeForce RTX 4090'), 'GEFORCE');
  assert.equal(gpuKindOf('Tesla T4'), 'T4');
  assert.equal(gpuKindOf('Tesla V100-SXM2-16GB', 16384), 'V100');
  assert.equal(gpuKindOf('NVIDIA A100-SXM4-40GB', 40960), 'A100_40GB');
  assert.equal(gpuKindOf('NVIDIA A100-SXM4-80GB', 81920), 'A100');
  assert.equal(gpuKindOf('NVIDIA H100 80GB HBM3', 81559), 'H100');
  assert.equal(gpuKindOf('NVIDIA H100 80GB HBM3 MIG 3g.40gb', 40192), 'H100_40GB');
  assert.equal(gpuKindOf('NVIDIA H200', 143771), 'H200');
  assert.equal(gpuKindOf('NVIDIA B200', 183359), 'B200');
  assert.equal(gpuKindOf('NVIDIA RTX PRO 6000 Blackwell Server Edition', 97887), 'RTX_PRO_6000');
  assert.equal(gpuKindOf('NVIDIA L40S', 46068), 'L40S');
});

test('--capacity overrides what was detected; its errors name the part', () => {
  const c = applyCapacityOverride(detected, 'cpu=8,memory=32Gi,gpu=H100:2,gpu=L4');
  assert.equal(c.cpu, 8);
  assert.equal(c.memoryBytes, 32 * 1024 ** 3);
  assert.deepEqual(c.gpus, [
    { index: 0, kind: 'H100' },
    { index: 1, kind: 'H100' },
    { index: 2, kind: 'L4' },
  ]);
  assert.deepEqual(
    applyCapacityOverride({ ...detected, gpus: [{ index: 0, kind: 'T4' }] }, 'gpu=none').gpus,
    [],
  );
  assert.deepEqual(applyCapacityOverride(detected, 'cpu=4').gpus, [], 'GPUs stay as detected');
  for (const [bad, pattern] of [
    ['disk=1Ti', /--capacity disk=1Ti: unknown key "disk"/],
    ['memory=lots', /--capacity memory=lots: memory: "lots" is not a memory quantity/],
    ['gpu', /--capacity gpu: expected key=value/],
  ] as const) {
    assert.throws(
      () => applyCapacityOverride(detected, bad),
      (err: unknown) => err instanceof PlinthError && pattern.test(err.message),
    );
  }
});

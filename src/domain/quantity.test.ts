import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlinthError } from './errors.ts';
import { formatMemory, parseAccelerator, parseCpu, parseMemory } from './quantity.ts';

const refused = (fn: () => unknown, pattern: RegExp): void =>
  assert.throws(fn, (err: unknown) => err instanceof PlinthError && pattern.test(err.message));

test('CPU quantities: cores, fractions and millicores', () => {
  assert.equal(parseCpu('500m'), 500);
  assert.equal(parseCpu('2'), 2000);
  assert.equal(parseCpu(4), 4000);
  assert.equal(parseCpu('0.25'), 250);
  refused(() => parseCpu('two', 'resources.cpu'), /resources\.cpu: "two" is not a CPU quantity/);
  refused(() => parseCpu('-1'), /not a CPU quantity/);
  refused(() => parseCpu('0'), /positive/);
});

test('memory quantities: binary and decimal suffixes', () => {
  assert.equal(parseMemory('512Mi'), 512 * 1024 ** 2);
  assert.equal(parseMemory('2Gi'), 2 * 1024 ** 3);
  assert.equal(parseMemory('1G'), 1e9);
  assert.equal(parseMemory('1.5Gi'), 1.5 * 1024 ** 3);
  assert.equal(parseMemory(1024), 1024);
  assert.equal(formatMemory(2 * 1024 ** 3), '2Gi');
  assert.equal(formatMemory(1872 * 1024 ** 3), '1872Gi');
  assert.equal(formatMemory(1.5 * 1024 ** 3), '1536Mi');
  assert.equal(formatMemory(24684092 * 1024), '23.5Gi');
  refused(() => parseMemory('2GB', 'resources.memory'), /resources\.memory: "2GB" is not a memory quantity/);
  refused(() => parseMemory('lots'), /not a memory quantity/);
});

test('accelerators: kind and count', () => {
  assert.deepEqual(parseAccelerator('L4'), { kind: 'L4', count: 1 });
  assert.deepEqual(parseAccelerator('h100:2'), { kind: 'H100', count: 2 });
  refused(() => parseAccelerator('H100:0'), /not an accelerator like "L4" or "H100:2"/);
  refused(() => parseAccelerator('H100 x2'), /not an accelerator/);
});

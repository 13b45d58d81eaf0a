// Following a pod's output: the line buffer on its own (chunks in, lines out), then through the API
// against the fake API server, whose log endpoint streams a file as it grows: lines are whole
// characters however the bytes were chunked, and a line that never ends is cut into bounded pieces.
import { kubeConfigAt } from '../../../test/support/kubernetes/backend-rig.ts';
import { until } from '../../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeKubernetes } from '../../../test/support/kubernetes/fake-api-server.ts';
import { followPodLog, LineBuffer } from './pod-logs.ts';

/** The bound on a line: 64 KiB. */
const MAX_LINE_BYTES = 64 * 1024;

const bytes = (s: string): number[] => [...Buffer.from(s)];
const CASES: {
  name: string;
  max?: number;
  chunks: (string | number[])[];
  lines: string[];
  atEnd: string[];
}[] = [
  { name: 'lines in one chunk', chunks: ['a\nb\n'], lines: ['a', 'b'], atEnd: [] },
  { name: 'a line over two chunks', chunks: ['ab', 'c\n'], lines: ['abc'], atEnd: [] },
  { name: 'CRLF endings lose the CR', chunks: ['a\r\nb\r', '\n'], lines: ['a', 'b'], atEnd: [] },
  { name: 'empty lines are lines', chunks: ['\n\n'], lines: ['', ''], atEnd: [] },
  {
    name: 'the last line without a newline comes at the end',
    chunks: ['a\nrest'],
    lines: ['a'],
    atEnd: ['rest'],
  },
  {
    name: 'a character split between chunks',
    chunks: [
      [...bytes('x'), 0xe2, 0x82],
      [0xac, ...bytes('\n')],
    ],
    lines: ['x€'],
    atEnd: [],
  },
  {
    name: 'a line past the bound is cut',
    max: 4,
    chunks: ['abcdefghij\n'],
    lines: ['abcd', 'efgh', 'ij'],
    atEnd: [],
  },
  { name: 'a line at the bound is whole', max: 4, chunks: ['abcd\n'], lines: ['abcd'], atEnd: [] },
  { name: 'a cut falls between characters', max: 4, chunks: ['abc€d\n'], lines: ['abc', '€d'], atEnd: [] },
  { name: 'the bound holds without any newline', max: 4, chunks: ['abcdef'], lines: ['abcd'], atEnd: ['ef'] },
];

for (const c of CASES) {
  test(`line buffer: ${c.name}`, () => {
    const buffer = new LineBuffer(c.max);
    const lines = c.chunks.flatMap((chunk) =>
      buffer.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk)),
    );
    assert.deepEqual(lines, c.lines);
    assert.deepEqual(buffer.end(), c.atEnd);
  });
}

test('lines are decoded whole: a character split between chunks, and a line longer than the bound is cut', async () => {
  const api = new FakeKubernetes();
  const url = await api.start();
  const dir = mkdtempSync(join(tmpdir(), 'plinth-pod-logs-'));
  const file = join(dir, 'model.log');
  writeFileSync(file, '');
  api.put('pods', 'ns', { metadata: { name: 'p' }, spec: { containers: [{ name: 'model' }] } });
  api.logFile = () => file;
  const kubeConfig = kubeConfigAt(url);
  const lines: string[] = [];
  const stop = followPodLog(kubeConfig, { namespace: 'ns', pod: 'p', container: 'model' }, undefined, (l) =>
    lines.push(l),
  );
  try {
    const e = Buffer.from('é'); // two bytes
    // The first byte of "é" goes out with "first": once "first" is heard, it has been sent.
    appendFileSync(file, Buffer.concat([Buffer.from('first\ncaf'), e.subarray(0, 1)]));
    await until('the first line', () => lines.length === 1, Boolean, 10_000, 20);
    appendFileSync(file, Buffer.concat([e.subarray(1), Buffer.from(' crème\r\n')]));
    await until('the second line', () => lines.length === 2, Boolean, 10_000, 20);
    assert.deepEqual(lines, ['first', 'café crème']);

    // A line past the bound comes out in pieces of at most MAX_LINE_BYTES, cut between characters.
    const long = 'a'.repeat(MAX_LINE_BYTES - 1) + 'é' + 'b'.repeat(10);
    appendFileSync(file, long + '\nafter\n');
    await until('the long line and the next', () => lines.at(-1) === 'after', Boolean, 10_000, 20);
    const pieces = lines.slice(2, -1);
    assert.deepEqual(
      pieces.map((p) => Buffer.byteLength(p)),
      [MAX_LINE_BYTES - 1, 2 + 10],
    );
    assert.equal(pieces.join(''), long, 'nothing lost or garbled at the cut');
  } finally {
    stop();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

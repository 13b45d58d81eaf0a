import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { OutputTail } from './output-tail.ts';

test('lines are passed on whole, however the writes split them (a character across two writes too)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-tail-'));
  try {
    const file = join(dir, 'r.out');
    writeFileSync(file, '');
    const lines: string[] = [];
    const tail = new OutputTail(file, 0, (l) => lines.push(l));
    const euro = Buffer.from('€'); // three bytes
    appendFileSync(file, Buffer.concat([Buffer.from('one\ntw'), euro.subarray(0, 1)]));
    tail.read();
    assert.deepEqual(lines, ['one']);
    assert.equal(tail.offset, 4, 'only complete lines count as passed on');
    appendFileSync(file, Buffer.concat([euro.subarray(1), Buffer.from('o\nunfinished')]));
    tail.read();
    assert.deepEqual(lines, ['one', 'tw€o']);
    tail.close();
    assert.deepEqual(lines, ['one', 'tw€o', 'unfinished'], 'close passes on the last, unfinished line');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('following starts at a given offset, and a large file is emptied once read to its end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plinth-tail-'));
  try {
    const file = join(dir, 'r.out');
    writeFileSync(file, 'already passed on\n');
    const lines: string[] = [];
    const tail = new OutputTail(file, 'already passed on\n'.length, (l) => lines.push(l), 32);
    appendFileSync(file, 'a line that takes the file past 32 bytes\n');
    tail.read();
    assert.deepEqual(lines, ['a line that takes the file past 32 bytes']);
    assert.equal(statSync(file).size, 0, 'emptied');
    assert.equal(tail.offset, 0);
    appendFileSync(file, 'after\n');
    tail.read();
    assert.deepEqual(lines.at(-1), 'after', 'the writer carries on at the new end');
    tail.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

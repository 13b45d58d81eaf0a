// The serving processes' V8 setting takes effect in a running process: V8's own pretenuring trace
// shows decisions for a workload whose objects outlive young collections, and none once it is set.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const MODULE = pathToFileURL(join(import.meta.dirname, 'serving-heap.ts')).href;

/** What V8 says of its pretenuring while a child runs a workload, tuned first or not. */
function pretenuringTrace(tuned: boolean): string {
  const script = `
    const { tuneHeapForServing } = await import(${JSON.stringify(MODULE)});
    if (${tuned}) tuneHeapForServing();
    // Objects of one site that live across young collections: what pretenuring acts on.
    const kept = [];
    const make = (i) => ({ i, pair: [i, i + 1] });
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 200000; i++) kept.push(make(i));
      if (kept.length > 1000000) kept.length = 0;
    }`;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--trace-pretenuring-statistics', '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('a serving process makes no pretenuring decisions where an untuned one does', () => {
  assert.match(pretenuringTrace(false), /pretenuring: AllocationSite/, 'the workload reaches pretenuring');
  assert.doesNotMatch(pretenuringTrace(true), /pretenuring:/);
});

// `plinth up`, `plinth gateway` and `plinth gateway-worker` run without V8's allocation-site
// pretenuring from their first line (bin/serving-heap.mjs): V8's own pretenuring trace, which shows
// its statistics and decisions while any other command loads the CLI, shows none for them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'plinth.js');

/** V8's pretenuring trace while `plinth <command> --help` loads the whole CLI and exits. */
function pretenuringTrace(command: string): string {
  const r = spawnSync(process.execPath, ['--trace-pretenuring-statistics', BIN, command, '--help'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: plinth/, `${command}: the CLI loaded`);
  return r.stdout
    .split('\n')
    .filter((line) => line.includes('pretenuring:'))
    .join('\n');
}

test('the serving commands run without V8 pretenuring from their first line; the others with it', () => {
  const other = pretenuringTrace('push');
  assert.match(other, /=> tenure/, 'loading the CLI is enough for V8 to decide to pretenure sites');
  for (const command of ['up', 'gateway', 'gateway-worker'])
    assert.equal(pretenuringTrace(command), '', `${command}: no pretenuring statistics, no decisions`);
});

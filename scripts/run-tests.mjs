// Runs every *.test.ts under the given folders (default: src and test) with node's test runner
// through tsx. Node 20 cannot expand test globs itself. First the prerequisite check
// (test/support/prerequisites/check.ts) makes sure the machine has what those tests need: it
// installs what is missing when it may, or stops with one message before any test runs.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, sep } from 'node:path';

const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['src', 'test'];
const files = roots
  .flatMap((root) => readdirSync(root, { recursive: true }).map((f) => join(root, String(f))))
  .filter((f) => f.endsWith('.test.ts') && !f.includes('node_modules'))
  .sort();
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ')}`);
  process.exit(1);
}
const check = spawnSync(
  process.execPath,
  ['--import', 'tsx', 'test/support/prerequisites/check.ts', ...files.map((f) => f.split(sep).join('/'))],
  { stdio: 'inherit' },
);
if (check.status !== 0) process.exit(check.status ?? 1);
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);

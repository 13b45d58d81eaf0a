// The prerequisite check `npm test` runs before any test (scripts/run-tests.mjs):
//   node --import tsx test/support/prerequisites/check.ts <test files…>
// Exits 0 when the machine has what those tests need. Otherwise installs what is missing when it
// may (root or passwordless sudo, on Debian), one line per thing, and looks again in a fresh
// process; or prints one message listing what is missing and how to add it, and exits 1.
// PLINTH_TEST_NO_INSTALL=1 forbids installing.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { planPrerequisites } from './plan.ts';
import { probeMachine } from './probe.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const AFTER_INSTALL = '--after-install';

async function main(argv: string[]): Promise<number> {
  const afterInstall = argv[0] === AFTER_INSTALL;
  const files = afterInstall ? argv.slice(1) : argv;
  const plan = planPrerequisites(files, await probeMachine(afterInstall));
  if (plan.kind === 'ready') return 0;
  if (plan.kind === 'stop') {
    console.error(plan.message);
    return 1;
  }
  for (const line of plan.lines) console.log(line);
  for (const [command, ...args] of plan.commands) {
    const run = spawnSync(command!, args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (run.status !== 0) {
      process.stderr.write(`${run.stdout ?? ''}${run.stderr ?? ''}`);
      console.error(
        `installing the tests' prerequisites failed: ${[command, ...args].join(' ')} (${run.error?.message ?? `exit ${run.status}`})`,
      );
      return 1;
    }
  }
  // A fresh process: what was just installed is looked for anew (the interpreter list is cached).
  const again = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), AFTER_INSTALL, ...files],
    {
      stdio: 'inherit',
    },
  );
  return again.status ?? 1;
}

process.exitCode = await main(process.argv.slice(2));

// `npm run chaos -- --minutes 60 [--seed N] [--store sqlite|postgres] [--settle S] [--keep-evidence]`:
// one chaos run of the real platform, then its summary (and, on a violation, the op log to replay
// it with; the platform's output, the time line and every request are kept in a directory it
// names). Exit code 1 on a violation, 2 when the run itself could not be made.
import { parseArgs } from 'node:util';
import { runChaos } from './chaos.ts';
import { formatReport } from './report.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    store: { type: 'string', default: 'sqlite' },
    settle: { type: 'string', default: '15' },
    'keep-evidence': { type: 'boolean', default: false },
  },
});
const store = values.store;
if (store !== 'sqlite' && store !== 'postgres') {
  console.error(`--store ${store}: expected sqlite or postgres`);
  process.exit(2);
}
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error(`--minutes ${values.minutes}: expected a positive number`);
  process.exit(2);
}
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(seed)) {
  console.error(`--seed ${values.seed}: expected an integer`);
  process.exit(2);
}

try {
  const report = await runChaos({
    seed,
    store,
    durationMs: Math.round(minutes * 60_000),
    settleMs: Number(values.settle) * 1000,
    log: (line) => console.log(line),
    keepEvidence: values['keep-evidence'],
  });
  console.log(formatReport(report));
  process.exit(report.violations.length === 0 ? 0 : 1);
} catch (err) {
  console.error(
    `the chaos run (seed ${seed}, store ${store}) could not be made: ${(err as Error).stack ?? String(err)}`,
  );
  process.exit(2);
}

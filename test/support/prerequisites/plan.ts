// What the test suite needs from the machine beyond `npm install`, and the pure decision of what
// to do about it: nothing, install what is missing (Debian packages; PostgreSQL through
// scripts/postgres-for-tests.sh), or stop with one message that lists what is missing and the exact
// commands that add it. Reads no machine state and runs nothing: probe.ts looks, check.ts acts.

/** A thing some tests need that `npm install` does not bring. */
export type PrerequisiteName =
  'chromium' | 'promtool' | 'kubectl' | 'pkill' | 'python3.11' | 'python3.9' | 'postgresql';

interface Prerequisite {
  name: PrerequisiteName;
  /** How the message names it. */
  what: string;
  /** Which tests need it, in words. */
  neededBy: string;
  /** Test files that need it: a path, or a folder ending in `/` (relative to the repository). */
  under: readonly string[];
  /** Where it comes from: a Debian package, the PostgreSQL script, or only by hand. */
  from: { kind: 'apt'; pkg: string } | { kind: 'postgres-script' } | { kind: 'by-hand'; how: string };
}

export const POSTGRES_SCRIPT = 'bash scripts/postgres-for-tests.sh';
export const DEFAULT_TEST_POSTGRES_URL = 'postgres://plinth:plinth@127.0.0.1:5432/postgres';

export const PREREQUISITES: readonly Prerequisite[] = [
  {
    name: 'postgresql',
    what: 'PostgreSQL',
    neededBy: 'the PostgreSQL store suite and the e2e tests of several control planes',
    under: ['src/store/', 'test/e2e/', 'test/chaos/'],
    from: { kind: 'postgres-script' },
  },
  {
    name: 'python3.11',
    what: 'Python 3.11 with venv',
    neededBy:
      'the Python model server, environment builds and the Truss model e2e tests (py311 is the default)',
    under: ['src/builder/', 'src/replica/python/', 'test/e2e/', 'test/security/'],
    from: { kind: 'apt', pkg: 'python3.11-venv' },
  },
  {
    name: 'python3.9',
    what: 'Python 3.9',
    neededBy: 'the python_version test in test/e2e/python.test.ts, which picks py39',
    under: ['test/e2e/python.test.ts'],
    from: {
      kind: 'by-hand',
      how: 'pyenv install 3.9   # Debian 12 has no python3.9 package; any python3.9 on PATH will do',
    },
  },
  {
    name: 'chromium',
    what: 'chromium',
    neededBy: "the dashboard's browser tests (playwright-core drives /usr/bin/chromium)",
    under: ['test/e2e/'],
    from: { kind: 'apt', pkg: 'chromium' },
  },
  {
    name: 'promtool',
    what: 'promtool',
    neededBy: 'the metrics e2e test, which checks /metrics with promtool',
    under: ['test/e2e/'],
    from: { kind: 'apt', pkg: 'prometheus' },
  },
  {
    name: 'kubectl',
    what: 'kubectl',
    neededBy:
      'the tests of the fake Kubernetes API server and the install manifests, which run the real kubectl',
    under: ['test/support/kubernetes/', 'test/deploy/'],
    from: { kind: 'apt', pkg: 'kubernetes-client' },
  },
  {
    name: 'pkill',
    what: 'pkill',
    neededBy: 'a builder test that stops what it left running with pkill',
    under: ['src/builder/'],
    from: { kind: 'apt', pkg: 'procps' },
  },
];

/** What the machine has, as probe.ts found it. */
export interface Machine {
  /** The prerequisites this machine has now (PostgreSQL: answers at `postgresUrl`). */
  present: ReadonlySet<PrerequisiteName>;
  isRoot: boolean;
  /** Whether the check may install: true, or why not (PLINTH_TEST_NO_INSTALL=1, no sudo, no apt-get). */
  mayInstall: true | string;
  /** Where the tests look for PostgreSQL (PLINTH_TEST_POSTGRES_URL or the default). */
  postgresUrl: string;
}

export type Plan =
  | { kind: 'ready' }
  /** Print each line, run each command in order (argv), then look again. */
  | { kind: 'install'; lines: string[]; commands: string[][] }
  /** Print the message and run nothing. */
  | { kind: 'stop'; message: string };

/** The prerequisites the given test files need (paths relative to the repository, `/`-separated). */
export function neededFor(testFiles: readonly string[]): Prerequisite[] {
  return PREREQUISITES.filter((p) =>
    testFiles.some((file) => p.under.some((u) => (u.endsWith('/') ? file.startsWith(u) : file === u))),
  );
}

/** The decision: ready, install everything missing, or stop with one message. */
export function planPrerequisites(testFiles: readonly string[], machine: Machine): Plan {
  const missing = neededFor(testFiles).filter((p) => !machine.present.has(p.name));
  if (missing.length === 0) return { kind: 'ready' };
  const elsewhere = machine.postgresUrl !== DEFAULT_TEST_POSTGRES_URL;
  const installable = missing.every(
    (p) => p.from.kind === 'apt' || (p.from.kind === 'postgres-script' && !elsewhere),
  );
  if (installable && machine.mayInstall === true) return installPlan(missing, machine.isRoot);
  return { kind: 'stop', message: stopMessage(missing, machine) };
}

function aptPackages(missing: readonly Prerequisite[]): string[] {
  return missing.flatMap((p) => (p.from.kind === 'apt' ? [p.from.pkg] : []));
}

function installPlan(missing: readonly Prerequisite[], isRoot: boolean): Plan {
  const asRoot = (argv: string[]): string[] => (isRoot ? argv : ['sudo', ...argv]);
  const lines: string[] = [];
  const commands: string[][] = [];
  const packages = aptPackages(missing);
  if (packages.length > 0) {
    for (const p of missing)
      if (p.from.kind === 'apt')
        lines.push(
          `== installing ${p.from.pkg}${p.from.pkg === p.what ? '' : ` (${p.what})`} for ${p.neededBy}`,
        );
    commands.push(asRoot(['apt-get', 'update', '-qq']));
    commands.push(
      asRoot([
        'env',
        'DEBIAN_FRONTEND=noninteractive',
        'apt-get',
        'install',
        '-y',
        '-qq',
        '--no-install-recommends',
        ...packages,
      ]),
    );
  }
  if (missing.some((p) => p.from.kind === 'postgres-script')) {
    lines.push(
      `== starting PostgreSQL on 127.0.0.1:5432 (${POSTGRES_SCRIPT}: installs Debian's postgresql when missing)`,
    );
    commands.push(['bash', 'scripts/postgres-for-tests.sh']);
  }
  return { kind: 'install', lines, commands };
}

/** The commands a person runs to add what is missing, one per line. */
export function remedyCommands(missing: readonly Prerequisite[], machine: Machine): string[] {
  const sudo = machine.isRoot ? '' : 'sudo ';
  const out: string[] = [];
  const packages = aptPackages(missing);
  if (packages.length > 0)
    out.push(
      `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${packages.join(' ')}`,
    );
  if (missing.some((p) => p.from.kind === 'postgres-script')) {
    out.push(
      machine.postgresUrl === DEFAULT_TEST_POSTGRES_URL
        ? POSTGRES_SCRIPT
        : `# start PostgreSQL at ${machine.postgresUrl}, or unset PLINTH_TEST_POSTGRES_URL and run: ${POSTGRES_SCRIPT}`,
    );
  }
  for (const p of missing) if (p.from.kind === 'by-hand') out.push(p.from.how);
  return out;
}

function stopMessage(missing: readonly Prerequisite[], machine: Machine): string {
  const why =
    machine.mayInstall === true
      ? 'not all of it can be installed from here'
      : `it is not installed from here: ${machine.mayInstall}`;
  const what = (p: Prerequisite): string =>
    p.name === 'postgresql' ? `PostgreSQL answering at ${machine.postgresUrl}` : p.what;
  return [
    `Tests not started: this machine lacks what they need, and ${why}.`,
    ...missing.map((p) => `  missing ${what(p)}, for ${p.neededBy}`),
    'Add them with:',
    ...remedyCommands(missing, machine).map((c) => `  ${c}`),
    'then run npm test again.',
  ].join('\n');
}

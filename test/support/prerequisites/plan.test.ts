import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TEST_POSTGRES_URL, neededFor, planPrerequisites } from './plan.ts';
import type { Machine, PrerequisiteName } from './plan.ts';

const ALL: PrerequisiteName[] = [
  'chromium',
  'promtool',
  'kubectl',
  'pkill',
  'python3.11',
  'python3.9',
  'postgresql',
];
const EVERY_KIND_OF_TEST = [
  'src/builder/build-steps.test.ts',
  'src/config/parse.test.ts',
  'src/store/postgres/postgres-store.test.ts',
  'test/deploy/kubernetes-install.test.ts',
  'test/e2e/dashboard.test.ts',
  'test/e2e/python.test.ts',
];

function machine(missing: PrerequisiteName[], over: Partial<Machine> = {}): Machine {
  return {
    present: new Set(ALL.filter((p) => !missing.includes(p))),
    isRoot: true,
    mayInstall: true,
    postgresUrl: DEFAULT_TEST_POSTGRES_URL,
    ...over,
  };
}

test('a machine with everything is ready; so is one lacking only what the chosen tests do not need', () => {
  assert.deepEqual(planPrerequisites(EVERY_KIND_OF_TEST, machine([])), { kind: 'ready' });
  assert.deepEqual(planPrerequisites(['src/config/parse.test.ts'], machine(ALL)), { kind: 'ready' });
  assert.deepEqual(
    neededFor(['src/store/postgres/postgres-store.test.ts', 'src/builder/build-steps.test.ts']).map(
      (p) => p.name,
    ),
    ['postgresql', 'python3.11', 'pkill'],
    'the unit tests need PostgreSQL, Python and pkill, not the browser, promtool or kubectl',
  );
  assert.deepEqual(
    neededFor(['test/support/kubernetes/fake-api-server.test.ts']).map((p) => p.name),
    ['kubectl'],
  );
  assert.deepEqual(
    neededFor(['test/e2e/dashboard.test.ts']).map((p) => p.name),
    ['postgresql', 'python3.11', 'chromium', 'promtool'],
  );
});

test('as root it installs the missing Debian packages, one line each, then starts PostgreSQL', () => {
  const plan = planPrerequisites(EVERY_KIND_OF_TEST, machine(['chromium', 'kubectl', 'postgresql']));
  assert.equal(plan.kind, 'install');
  assert.equal(plan.lines.length, 3);
  assert.match(plan.lines[0]!, /^== installing chromium for the dashboard's browser tests/);
  assert.match(
    plan.lines[1]!,
    /^== installing kubernetes-client \(kubectl\) for the tests of the fake Kubernetes API server/,
  );
  assert.match(
    plan.lines[2]!,
    /^== starting PostgreSQL on 127\.0\.0\.1:5432 \(bash scripts\/postgres-for-tests\.sh/,
  );
  assert.deepEqual(plan.commands, [
    ['apt-get', 'update', '-qq'],
    [
      'env',
      'DEBIAN_FRONTEND=noninteractive',
      'apt-get',
      'install',
      '-y',
      '-qq',
      '--no-install-recommends',
      'chromium',
      'kubernetes-client',
    ],
    ['bash', 'scripts/postgres-for-tests.sh'],
  ]);
});

test('with passwordless sudo the same commands run through sudo', () => {
  const plan = planPrerequisites(
    ['test/e2e/observability.test.ts'],
    machine(['promtool'], { isRoot: false }),
  );
  assert.equal(plan.kind, 'install');
  assert.deepEqual(plan.commands, [
    ['sudo', 'apt-get', 'update', '-qq'],
    [
      'sudo',
      'env',
      'DEBIAN_FRONTEND=noninteractive',
      'apt-get',
      'install',
      '-y',
      '-qq',
      '--no-install-recommends',
      'prometheus',
    ],
  ]);
});

test('when it may not install it stops with one message: what is missing, who needs it, the exact commands', () => {
  const plan = planPrerequisites(
    EVERY_KIND_OF_TEST,
    machine(['chromium', 'promtool', 'kubectl', 'pkill', 'python3.11', 'postgresql'], {
      isRoot: false,
      mayInstall: 'not root, and sudo asks for a password',
    }),
  );
  assert.equal(plan.kind, 'stop');
  assert.equal(
    plan.message,
    [
      'Tests not started: this machine lacks what they need, and it is not installed from here: not root, and sudo asks for a password.',
      '  missing PostgreSQL answering at postgres://plinth:plinth@127.0.0.1:5432/postgres, for the PostgreSQL store suite and the e2e tests of several control planes',
      '  missing Python 3.11 with venv, for the Python model server, environment builds and the Truss model e2e tests (py311 is the default)',
      "  missing chromium, for the dashboard's browser tests (playwright-core drives /usr/bin/chromium)",
      '  missing promtool, for the metrics e2e test, which checks /metrics with promtool',
      '  missing kubectl, for the tests of the fake Kubernetes API server and the install manifests, which run the real kubectl',
      '  missing pkill, for a builder test that stops what it left running with pkill',
      'Add them with:',
      '  sudo apt-get update && sudo apt-get install -y --no-install-recommends python3.11-venv chromium prometheus kubernetes-client procps',
      '  bash scripts/postgres-for-tests.sh',
      'then run npm test again.',
    ].join('\n'),
  );
  const asRoot = planPrerequisites(
    ['test/e2e/dashboard.test.ts'],
    machine(['chromium'], { mayInstall: 'PLINTH_TEST_NO_INSTALL=1 forbids it' }),
  );
  assert.equal(asRoot.kind, 'stop');
  assert.match(asRoot.message, /it is not installed from here: PLINTH_TEST_NO_INSTALL=1 forbids it\./);
  assert.match(
    asRoot.message,
    /^ {2}apt-get update && apt-get install -y --no-install-recommends chromium$/m,
  );
});

test('what no Debian package brings stops the check before it installs anything, naming how to get it', () => {
  const plan = planPrerequisites(EVERY_KIND_OF_TEST, machine(['python3.9', 'chromium']));
  assert.equal(plan.kind, 'stop');
  assert.match(plan.message, /not all of it can be installed from here\./);
  assert.match(
    plan.message,
    /missing Python 3\.9, for the python_version test in test\/e2e\/python\.test\.ts/,
  );
  assert.match(plan.message, /^ {2}apt-get update && apt-get install -y --no-install-recommends chromium$/m);
  assert.match(plan.message, /^ {2}pyenv install 3\.9 /m);
});

test('a PostgreSQL elsewhere (PLINTH_TEST_POSTGRES_URL) that does not answer is not replaced by a local one', () => {
  const url = 'postgres://u:p@db.example:5433/postgres';
  const plan = planPrerequisites(
    ['src/store/postgres/postgres-store.test.ts'],
    machine(['postgresql'], { postgresUrl: url }),
  );
  assert.equal(plan.kind, 'stop');
  assert.match(
    plan.message,
    /missing PostgreSQL answering at postgres:\/\/u:p@db\.example:5433\/postgres, for /,
  );
  assert.match(
    plan.message,
    /# start PostgreSQL at postgres:\/\/u:p@db\.example:5433\/postgres, or unset PLINTH_TEST_POSTGRES_URL and run: bash scripts\/postgres-for-tests\.sh/,
  );
});

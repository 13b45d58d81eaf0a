// Drives the real prerequisite check (and `scripts/run-tests.mjs`, which runs it first) with a PATH
// that lacks one tool at a time. PLINTH_TEST_NO_INSTALL=1 forbids installing, so nothing is
// installed here; PostgreSQL is looked for on a port where nothing listens, so it is missing too.
// The tools on the PATH are stand-ins: the check looks only at which names PATH has.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { freePort } from '../free-port.ts';
import { scratchDir } from '../scratch.ts';

const REPO = new URL('../../../', import.meta.url).pathname;
const CHECK = 'test/support/prerequisites/check.ts';
const TOOLS = { chromium: 'chromium', promtool: 'prometheus', kubectl: 'kubernetes-client', pkill: 'procps' };
type Tool = keyof typeof TOOLS;
/** Tests that between them need all four tools (and PostgreSQL, and Python 3.11). */
const FILES = [
  'src/builder/build-steps.test.ts',
  'test/deploy/kubernetes-install.test.ts',
  'test/e2e/dashboard.test.ts',
  'test/e2e/observability.test.ts',
];

const scratch = scratchDir('prerequisites');
let deadPostgres = '';
before(async () => {
  deadPostgres = `postgres://plinth:plinth@127.0.0.1:${await freePort()}/postgres`;
});

/** A PATH folder holding node and every tool but `lacking`. */
function pathWithout(...lacking: Tool[]): string {
  const dir = mkdtempSync(join(scratch, `without-${lacking.join('-') || 'nothing'}-`));
  const standIn = join(dir, '.stand-in');
  writeFileSync(standIn, '#!/bin/sh\nexit 0\n');
  chmodSync(standIn, 0o755);
  symlinkSync(process.execPath, join(dir, 'node'));
  for (const tool of Object.keys(TOOLS) as Tool[])
    if (!lacking.includes(tool)) symlinkSync(standIn, join(dir, tool));
  return dir;
}

function run(path: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: path,
    PLINTH_TEST_NO_INSTALL: '1',
    PLINTH_TEST_POSTGRES_URL: deadPostgres,
  };
  delete env.KUBECTL;
  const r = spawnSync(process.execPath, args, { cwd: REPO, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The packages on the message's `apt-get install` line. */
function aptPackages(message: string): string[] {
  const m =
    /^ {2}(?:sudo )?apt-get update && (?:sudo )?apt-get install -y --no-install-recommends (.+)$/m.exec(
      message,
    );
  assert.ok(m, `an apt-get line in:\n${message}`);
  return m[1]!.split(' ');
}

for (const tool of Object.keys(TOOLS) as Tool[]) {
  test(`a PATH without ${tool}: one message names it, who needs it and the apt-get line that adds it; nothing runs`, () => {
    const r = run(pathWithout(tool), ['--import', 'tsx', CHECK, ...FILES]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '', 'nothing installed, nothing run');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(
      lines[0],
      'Tests not started: this machine lacks what they need, and it is not installed from here: PLINTH_TEST_NO_INSTALL=1 forbids it.',
    );
    assert.equal(lines.at(-1), 'then run npm test again.');
    assert.match(r.stderr, new RegExp(`^ {2}missing ${tool}, for \\S`, 'm'));
    for (const other of Object.keys(TOOLS).filter((t) => t !== tool))
      assert.doesNotMatch(r.stderr, new RegExp(`missing ${other},`), `${other} is on PATH`);
    const packages = aptPackages(r.stderr);
    assert.ok(packages.includes(TOOLS[tool]), `${TOOLS[tool]} in ${packages.join(' ')}`);
    for (const other of Object.keys(TOOLS).filter((t) => t !== tool))
      assert.ok(
        !packages.includes(TOOLS[other as Tool]),
        `${TOOLS[other as Tool]} not in ${packages.join(' ')}`,
      );
    assert.ok(
      lines.includes(
        `  missing PostgreSQL answering at ${deadPostgres}, for the PostgreSQL store suite and the e2e tests of several control planes`,
      ),
    );
    assert.ok(
      lines.includes(
        `  # start PostgreSQL at ${deadPostgres}, or unset PLINTH_TEST_POSTGRES_URL and run: bash scripts/postgres-for-tests.sh`,
      ),
    );
  });
}

test('a PATH without any of the four: each is listed once, and one apt-get line adds them all', () => {
  const r = run(pathWithout('chromium', 'promtool', 'kubectl', 'pkill'), [
    '--import',
    'tsx',
    CHECK,
    ...FILES,
  ]);
  assert.equal(r.code, 1);
  for (const tool of Object.keys(TOOLS))
    assert.equal(r.stderr.split(`missing ${tool},`).length, 2, `${tool} once`);
  const packages = aptPackages(r.stderr);
  for (const pkg of Object.values(TOOLS))
    assert.ok(packages.includes(pkg), `${pkg} in ${packages.join(' ')}`);
  assert.equal(r.stderr.match(/apt-get install/g)?.length, 1);
});

test('tests that need only what the machine has: the check says nothing and lets them run', () => {
  const r = run(pathWithout(), [
    '--import',
    'tsx',
    CHECK,
    'src/config/parse.test.ts',
    'test/deploy/kubernetes-install.test.ts',
    'test/support/kubernetes/fake-api-server.test.ts',
  ]);
  assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
});

test("npm test's runner stops before running any test when the check fails", () => {
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  const r = run(pathWithout('kubectl'), ['scripts/run-tests.mjs', 'test/deploy']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr.trimEnd(),
    [
      'Tests not started: this machine lacks what they need, and it is not installed from here: PLINTH_TEST_NO_INSTALL=1 forbids it.',
      '  missing kubectl, for the tests of the fake Kubernetes API server and the install manifests, which run the real kubectl',
      'Add them with:',
      `  ${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends kubernetes-client`,
      'then run npm test again.',
    ].join('\n'),
  );
  assert.doesNotMatch(r.stdout, /^# tests|^ok \d/m, 'no test ran');
});

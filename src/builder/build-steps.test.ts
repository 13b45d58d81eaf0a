import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../config/parse.ts';
import { writeTree } from '../../test/support/write-tree.ts';
import {
  buildStepsDir,
  buildStepTimeoutMs,
  DEFAULT_BUILD_STEP_TIMEOUT_S,
  linkBuildOutputs,
  runBuildCommands,
} from './build-steps.ts';
import { BuildError } from './node-environment.ts';
import { preparePythonEnvironment, pythonEnvironmentHash } from './python-environment.ts';
import { resolvePython } from './python-interpreters.ts';
import { MAX_LINE_CHARS, runCommand } from './run-command.ts';

const root = scratchDir('build-steps');

test('build commands run once per environment, with the venv active, in its app directory, linked into each app', async () => {
  const config = parseConfig(
    [
      'build_commands:',
      `  - python -c "import sys, os; open('prefix.txt', 'w').write(sys.prefix + '|' + os.environ['VIRTUAL_ENV'] + '|' + os.getcwd())"`,
      '  - echo run >> runs.txt && mkdir -p tools && echo hello > tools/greeting.txt',
      '  - echo "to the log"',
    ].join('\n'),
  ).config;
  const envs = join(root, 'envs');
  const app1 = writeTree(join(root, 'app1'), {
    'model/model.py': 'class Model: pass\n',
    'tools/mine.txt': 'x',
  });
  const lines: string[] = [];
  const envDir = await preparePythonEnvironment(app1, config, envs, (l) => lines.push(l));
  const log = lines.join('\n');
  assert.match(log, /build_commands\[2\]: \$ echo "to the log"\nto the log/);
  const [prefix, virtualEnv, cwd] = readFileSync(join(buildStepsDir(envDir), 'prefix.txt'), 'utf8').split(
    '|',
  );
  assert.equal(prefix, envDir, 'the venv is the interpreter running');
  assert.equal(virtualEnv, envDir);
  assert.equal(cwd, buildStepsDir(envDir));
  // Linked into the app; the bundle's own "tools" is left as it was.
  assert.equal(readFileSync(join(app1, 'prefix.txt'), 'utf8').split('|')[0], envDir);
  assert.equal(lstatSync(join(app1, 'tools')).isSymbolicLink(), false);
  assert.equal(readFileSync(join(app1, 'tools/mine.txt'), 'utf8'), 'x');

  // Another app on the same environment: nothing runs again, the outputs are linked.
  const app2 = writeTree(join(root, 'app2'), { 'model/model.py': 'class Model: pass\n' });
  const again: string[] = [];
  assert.equal(await preparePythonEnvironment(app2, config, envs, (l) => again.push(l)), envDir);
  assert.match(again.join('\n'), /requirements and build_commands unchanged: reusing cached environment/);
  assert.doesNotMatch(again.join('\n'), /build_commands\[0\]/);
  assert.equal(readFileSync(join(app2, 'runs.txt'), 'utf8'), 'run\n');
  assert.equal(readFileSync(join(app2, 'tools/greeting.txt'), 'utf8'), 'hello\n');
});

test('a failing build command fails the build with its command, exit code and last lines; the environment is not kept', async () => {
  const config = parseConfig(
    'build_commands:\n  - echo fine\n  - echo "about to fail" && echo "it broke" >&2 && exit 3\n  - echo never\n',
  ).config;
  const envs = join(root, 'failing-envs');
  const app = writeTree(join(root, 'failing-app'), { 'model/model.py': 'class Model: pass\n' });
  const lines: string[] = [];
  await assert.rejects(
    preparePythonEnvironment(app, config, envs, (l) => lines.push(l)),
    (err: unknown) =>
      err instanceof BuildError &&
      err.message.startsWith(
        'build_commands[1] `echo "about to fail" && echo "it broke" >&2 && exit 3` failed (exit 3)',
      ) &&
      err.message.includes('about to fail') &&
      err.message.includes('it broke'),
  );
  assert.match(lines.join('\n'), /about to fail/);
  assert.doesNotMatch(lines.join('\n'), /never/);
  assert.deepEqual(existsSync(envs) ? readdirSync(envs) : [], []);
});

test('a build command past its time limit is killed, with what it started', async () => {
  const envDir = join(root, 'slow-env');
  await assert.rejects(
    runBuildCommands(['sleep 30 & sleep 30; echo late'], envDir, () => {}, { timeoutMs: 300 }),
    /build_commands\[0\] `sleep 30 & sleep 30; echo late` ran past its time limit \(0 s, PLINTH_BUILD_STEP_TIMEOUT_S\)/,
  );
});

test('the time limit comes from PLINTH_BUILD_STEP_TIMEOUT_S, else 30 minutes', () => {
  assert.equal(buildStepTimeoutMs({}), DEFAULT_BUILD_STEP_TIMEOUT_S * 1000);
  assert.equal(buildStepTimeoutMs({ PLINTH_BUILD_STEP_TIMEOUT_S: '90' }), 90_000);
  assert.equal(
    buildStepTimeoutMs({ PLINTH_BUILD_STEP_TIMEOUT_S: 'soon' }),
    DEFAULT_BUILD_STEP_TIMEOUT_S * 1000,
  );
  assert.equal(
    buildStepTimeoutMs({ PLINTH_BUILD_STEP_TIMEOUT_S: '-1' }),
    DEFAULT_BUILD_STEP_TIMEOUT_S * 1000,
  );
});

test("links an earlier build made are replaced; the bundle's own links are kept", () => {
  const envs = join(root, 'link-envs');
  const oldEnv = join(envs, 'python-old');
  const newEnv = join(envs, 'python-new');
  writeTree(buildStepsDir(oldEnv), { 'gone.txt': 'old', 'kept.txt': 'old' });
  writeTree(buildStepsDir(newEnv), { 'kept.txt': 'new' });
  const app = writeTree(join(root, 'link-app'), { 'model/model.py': '', 'data.txt': 'mine' });
  symlinkSync('data.txt', join(app, 'mine-link'));
  assert.deepEqual(linkBuildOutputs(oldEnv, app), ['gone.txt', 'kept.txt']);
  assert.deepEqual(linkBuildOutputs(newEnv, app), ['kept.txt']);
  assert.equal(existsSync(join(app, 'gone.txt')), false);
  assert.equal(readFileSync(join(app, 'kept.txt'), 'utf8'), 'new');
  assert.equal(readlinkSync(join(app, 'mine-link')), 'data.txt');
});

test('command output is passed on line by line, a line too long is cut, and memory stays bounded', async () => {
  const lines: string[] = [];
  const result = await runCommand(
    'sh',
    ['-c', `printf 'a\\r\\nb\\n'; head -c 100000 /dev/zero | tr '\\0' x; printf '\\nafter'`],
    { cwd: root, onLine: (l) => lines.push(l) },
  );
  assert.equal(result.code, 0);
  assert.equal(lines[0], 'a');
  assert.equal(lines[1], 'b');
  assert.ok(lines[2]!.length < MAX_LINE_CHARS + 100);
  assert.match(lines[2]!, /line cut at 8192 characters/);
  assert.equal(lines[3], 'after');
  assert.equal(lines.length, 4);
});

test('a build command cut off by a crash is stopped, with what it started, before its environment is built again', async () => {
  const config = parseConfig('build_commands: ["echo rebuilt > rebuilt.txt"]').config;
  const envsRoot = join(root, 'orphan-envs');
  const hash = pythonEnvironmentHash(resolvePython(config.python_version), [], config.build_commands);
  const envDir = join(envsRoot, `python-${hash}`);
  mkdirSync(buildStepsDir(envDir), { recursive: true });
  // The orphan: a command (and a child of it) still writing into the environment.
  const orphan = spawn(
    '/bin/sh',
    [
      '-c',
      '(while true; do touch "$1/app/child-$(date +%N)"; sleep 0.01; done) & wait',
      'plinth-build-step',
      envDir,
    ],
    { stdio: 'ignore', detached: true },
  );
  writeFileSync(`${envDir}.builder`, String(orphan.pid));
  const exited = new Promise((r) => orphan.once('exit', r));
  const app = writeTree(join(root, 'orphan-app'), { 'model/model.py': 'class Model: pass\n' });
  assert.equal(await preparePythonEnvironment(app, config, envsRoot, () => {}), envDir);
  await exited;
  assert.deepEqual(
    readdirSync(buildStepsDir(envDir)).sort(),
    ['rebuilt.txt'],
    'nothing of the orphan is left',
  );
  assert.equal(existsSync(`${envDir}.builder`), false);
});

test(
  'a command that leaves a child in a session of its own holding its output is not waited for past a grace',
  { timeout: 20_000 },
  async () => {
    const result = await runCommand('sh', ['-c', 'setsid sleep 301 & echo started'], {
      cwd: root,
      onLine: () => {},
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0);
    assert.deepEqual(result.tail, ['started']);
    spawn('pkill', ['-f', 'sleep 301']);
  },
);

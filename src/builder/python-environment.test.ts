import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../config/parse.ts';
import { writeTree } from '../../test/support/write-tree.ts';
import { BuildError } from './node-environment.ts';
import { pythonEnvironmentHash, preparePythonEnvironment, requirementsOf } from './python-environment.ts';
import { pythonInterpreters, resolvePython } from './python-interpreters.ts';

const root = scratchDir('pyenv');

test('requirements come from the list or the requirements file, comments dropped', async () => {
  const app = writeTree(join(root, 'app'), { 'reqs.txt': '# pinned\nnumpy==2.0  # fast\n\nscipy\n' });
  assert.deepEqual(await requirementsOf(app, parseConfig('requirements: [torch]\n').config), ['torch']);
  const { config } = parseConfig('requirements_file: reqs.txt\n');
  assert.deepEqual(await requirementsOf(app, config), ['numpy==2.0', 'scipy']);
  const missing = parseConfig('requirements_file: nope.txt\n').config;
  await assert.rejects(requirementsOf(app, missing), /requirements_file nope.txt is not in the bundle/);
});

test('the environment hash changes with the interpreter, the requirements and the build commands', () => {
  const a = pythonEnvironmentHash('/py/3.11', ['numpy']);
  assert.equal(a, pythonEnvironmentHash('/py/3.11', ['numpy']));
  assert.equal(a, pythonEnvironmentHash('/py/3.11', ['numpy'], []), 'no build commands: the key as before');
  assert.notEqual(a, pythonEnvironmentHash('/py/3.12', ['numpy']));
  assert.notEqual(a, pythonEnvironmentHash('/py/3.11', ['numpy', 'scipy']));
  const withCommands = pythonEnvironmentHash('/py/3.11', ['numpy'], ['echo hi']);
  assert.notEqual(withCommands, a);
  assert.notEqual(withCommands, pythonEnvironmentHash('/py/3.11', ['numpy'], ['echo ho']));
  assert.notEqual(
    pythonEnvironmentHash('/py/3.11', [], ['a', 'b']),
    pythonEnvironmentHash('/py/3.11', [], ['a\u0000b']),
  );
});

test('interpreters are real executables, and a missing version lists the ones the host has', () => {
  const found = pythonInterpreters();
  assert.ok(found.size > 0);
  for (const path of found.values()) assert.doesNotMatch(path, /shims/);
  assert.throws(
    () => resolvePython('py399'),
    (err: unknown) =>
      err instanceof BuildError &&
      /Python 3\.99 is not installed on this host; it has py3\d+/.test(err.message),
  );
});

test('a model without requirements gets a venv without pip, built once and then reused', async () => {
  const app = writeTree(join(root, 'plain'), { 'model/model.py': 'class Model: pass\n' });
  const { config } = parseConfig('');
  const first: string[] = [];
  const envDir = await preparePythonEnvironment(app, config, join(root, 'envs'), (l) => first.push(l));
  assert.match(first.join('\n'), /-m venv --without-pip/);
  const second: string[] = [];
  assert.equal(
    await preparePythonEnvironment(app, config, join(root, 'envs'), (l) => second.push(l)),
    envDir,
  );
  assert.match(second.join('\n'), /requirements unchanged: reusing cached environment/);
});

test('a build cut off by a crash left its builder writing: it is stopped before the environment is built again', async () => {
  const app = writeTree(join(root, 'orphan-app'), {
    'model/model.py': 'class Model:\n  def predict(self, x): return x\n',
  });
  const { config } = parseConfig('');
  const envsRoot = join(root, 'orphan-envs');
  const envDir = join(envsRoot, `python-${pythonEnvironmentHash(resolvePython(config.python_version), [])}`);
  mkdirSync(join(envDir, 'lib'), { recursive: true });
  // The orphan: still writing into the environment, its pid left where the crashed server kept it.
  const orphan = spawn(
    'sh',
    ['-c', `while true; do touch "${envDir}/lib/f$$-$(date +%N)"; sleep 0.01; done`],
    {
      stdio: 'ignore',
    },
  );
  writeFileSync(`${envDir}.builder`, String(orphan.pid));
  const exited = new Promise((r) => orphan.once('exit', r));
  const lines: string[] = [];
  const built = await preparePythonEnvironment(app, config, envsRoot, (l) => lines.push(l));
  assert.equal(built, envDir);
  assert.ok(existsSync(join(envDir, 'bin', 'python')), lines.join('\n'));
  assert.deepEqual(
    readdirSync(join(envDir, 'lib')).filter((f) => f.startsWith('f')),
    [],
    'nothing of the orphan is left',
  );
  await exited;
  assert.equal(existsSync(`${envDir}.builder`), false);
});

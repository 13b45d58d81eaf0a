import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../config/parse.ts';
import { freePort } from '../../test/support/free-port.ts';
import { writeTree } from '../../test/support/write-tree.ts';
import { isPythonBaseReady, preparePythonBase, pythonBaseDir } from './python-base.ts';
import {
  BASE_PTH,
  layeredBaseOf,
  layerPythonBase,
  preparePythonApp,
  sitePackagesOf,
} from './python-base-layer.ts';
import { resolvePython } from './python-interpreters.ts';

// This machine reaches no package index over the network: pip's retries would only add minutes.
process.env.PIP_RETRIES ??= '0';
process.env.PIP_TIMEOUT ??= '5';

const root = scratchDir('pybase');
const interpreter = resolvePython('py311');
/** A small base (one package, the full list takes longer): what these tests check is the same. */
const SMALL = ['msgpack>=1,<2', 'prometheus_client>=0.20,<1'];
const REPLICA_DIR = fileURLToPath(new URL('../replica/python', import.meta.url));

function collect(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

const pipRuns = (lines: string[]): number => lines.filter((l) => /^\$ .* -m pip install/.test(l)).length;

test('prepared once: a second call reuses it without running pip', async () => {
  const base = join(root, 'once');
  const first = collect();
  const result = await preparePythonBase({ root: base, interpreter, packages: SMALL, log: first.log });
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.dir, pythonBaseDir(base, interpreter, SMALL));
  assert.equal(pipRuns(first.lines), 1, first.lines.join('\n'));
  assert.ok(isPythonBaseReady(result.dir));
  assert.ok(sitePackagesOf(result.dir));

  const second = collect();
  assert.deepEqual(
    await preparePythonBase({ root: base, interpreter, packages: SMALL, log: second.log }),
    result,
  );
  assert.equal(pipRuns(second.lines), 0);
  assert.match(second.lines.join('\n'), /Truss's base environment: reusing /);
});

test('concurrent callers in one process share one preparation', async () => {
  const base = join(root, 'shared');
  const logs = [collect(), collect(), collect()];
  const results = await Promise.all(
    logs.map((l) => preparePythonBase({ root: base, interpreter, packages: SMALL, log: l.log })),
  );
  assert.ok(results.every((r) => r.ok && r.dir === results[0]!.dir));
  assert.equal(pipRuns(logs.flatMap((l) => l.lines)), 1);
  assert.equal(logs.filter((l) => l.lines.some((x) => /waiting for its preparation/.test(x))).length, 2);
});

test('concurrent server processes share one preparation through the lock file', async () => {
  const base = join(root, 'processes');
  const script = join(root, 'prepare.mts');
  writeFileSync(
    script,
    `import { preparePythonBase } from ${JSON.stringify(fileURLToPath(new URL('./python-base.ts', import.meta.url)))};
const r = await preparePythonBase({ root: process.argv[2], interpreter: process.argv[3], packages: JSON.parse(process.argv[4]), log: (l) => console.log(l) });
console.log(JSON.stringify(r));\n`,
  );
  const other = spawn(
    process.execPath,
    ['--import', 'tsx', script, base, interpreter, JSON.stringify(SMALL)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let otherOut = '';
  other.stdout.on('data', (c: Buffer) => (otherOut += c.toString()));
  const exited = new Promise((r) => other.once('close', r));
  const mine = collect();
  const result = await preparePythonBase({ root: base, interpreter, packages: SMALL, log: mine.log });
  await exited;
  assert.ok(result.ok, mine.lines.join('\n'));
  assert.match(otherOut, /"ok":true/);
  const all = [...mine.lines, ...otherOut.split('\n')];
  assert.equal(pipRuns(all), 1, all.join('\n'));
  assert.equal(existsSync(`${result.dir}.lock`), false, 'the lock is given up');
});

test('a half-built environment, its staging directories and a dead holder’s lock are cleared, and it is built again', async () => {
  const base = join(root, 'half');
  const dir = pythonBaseDir(base, interpreter, SMALL);
  // What a server killed while preparing it leaves (an older layout built in place, a staging
  // directory, its lock naming a process that is gone).
  writeTree(dir, { 'lib/python3.11/site-packages/half.py': '' });
  writeTree(`${dir}.partial-1-1`, { 'bin/python': '' });
  const dead = spawnSync('true');
  writeFileSync(`${dir}.lock`, `${dead.pid}:1`);
  const { lines, log } = collect();
  const result = await preparePythonBase({ root: base, interpreter, packages: SMALL, log });
  assert.ok(result.ok, lines.join('\n'));
  assert.equal(pipRuns(lines), 1);
  assert.doesNotMatch(lines.join('\n'), /waiting/);
  assert.equal(existsSync(join(dir, 'lib', 'python3.11', 'site-packages', 'half.py')), false);
  assert.deepEqual(
    readdirSync(base).filter((n) => n.includes('.partial-') || n.endsWith('.lock')),
    [],
  );
});

test("the deployment's pins win over the base; the base fills in what the deployment lacks, in the venv's python and in a standby's takeover", async () => {
  const app = writeTree(join(root, 'pinned'), { 'model/model.py': 'class Model: pass\n' });
  const { config } = parseConfig('requirements:\n  - msgpack==1.1.2\n');
  const dirs = { environments: join(root, 'pinned-envs'), pythonBase: join(root, 'pinned-base') };
  const { lines, log } = collect();
  const built = await preparePythonApp(app, config, dirs, log, SMALL);
  assert.ok(built.baseEnvDir, lines.join('\n'));
  assert.equal(layeredBaseOf(built.envDir), built.baseEnvDir);
  assert.ok(existsSync(join(sitePackagesOf(built.envDir)!, BASE_PTH)));

  const probe =
    'import msgpack, prometheus_client, sys; print(".".join(map(str, msgpack.version)), msgpack.__file__, prometheus_client.__file__)';
  const direct = spawnSync(join(built.envDir, 'bin', 'python'), ['-c', probe], { encoding: 'utf8' });
  assert.equal(direct.status, 0, direct.stderr);
  const [version, own, filled] = direct.stdout.trim().split(' ');
  assert.equal(version, '1.1.2', 'the pinned msgpack, not the base one');
  assert.ok(own!.startsWith(built.envDir), own);
  assert.ok(filled!.startsWith(built.baseEnvDir!), filled);

  // A standby runs the base interpreter and takes the venv on at hand-over (site.addsitedir); the
  // interpreter's own site-packages (here its user site, holding a stale msgpack) leave the path.
  const userBase = writeTree(join(root, 'user-base'), {
    'lib/python3.11/site-packages/msgpack.py': 'version = (0, 0, 0)\n',
  });
  const takeover = spawnSync(
    interpreter,
    [
      '-c',
      `import sys; sys.path.insert(0, ${JSON.stringify(REPLICA_DIR)}); import plinth_replica; plinth_replica.become_replica(); ${probe}`,
    ],
    {
      encoding: 'utf8',
      input: JSON.stringify({ env: { PLINTH_ENV_DIR: built.envDir }, cwd: app }) + '\n',
      env: { PATH: process.env.PATH, PLINTH_STANDBY: '1', PYTHONUSERBASE: userBase },
    },
  );
  assert.equal(takeover.status, 0, takeover.stderr);
  assert.deepEqual(takeover.stdout.trim().split(' '), [version, own, filled]);

  // A second build of the same requirements changes nothing and runs no pip.
  const again = collect();
  assert.deepEqual(await preparePythonApp(app, config, dirs, again.log, SMALL), built);
  assert.equal(pipRuns(again.lines), 0, again.lines.join('\n'));
});

test('a base that cannot be prepared (no index) is one WARNING line; the build goes on, and the next build tries again', async () => {
  const app = writeTree(join(root, 'offline'), { 'model/model.py': 'class Model: pass\n' });
  const { config } = parseConfig('');
  const dirs = { environments: join(root, 'offline-envs'), pythonBase: join(root, 'offline-base') };
  const saved = { ...process.env };
  // Only a closed port to ask: no configuration file, no local wheels.
  Object.assign(process.env, {
    PIP_CONFIG_FILE: '/dev/null',
    PIP_INDEX_URL: `http://127.0.0.1:${await freePort()}/simple`,
    PIP_RETRIES: '0',
    PIP_TIMEOUT: '2',
  });
  delete process.env.PIP_FIND_LINKS;
  delete process.env.PIP_EXTRA_INDEX_URL;
  try {
    for (let build = 1; build <= 2; build++) {
      const lines: { line: string; level: string }[] = [];
      const built = await preparePythonApp(app, config, dirs, (line, level = 'INFO') =>
        lines.push({ line, level }),
      );
      assert.equal(built.baseEnvDir, null);
      assert.ok(existsSync(join(built.envDir, 'bin', 'python')), 'the model still gets its venv');
      const warnings = lines.filter((l) => l.level === 'WARNING');
      assert.equal(warnings.length, 1, JSON.stringify(lines));
      assert.match(
        warnings[0]!.line,
        /^WARNING: Truss's base packages \(fastapi, starlette, pydantic, numpy, requests, aiohttp, pyyaml, msgpack, prometheus_client\) are not importable without listing them in requirements: preparing .* failed: pip install failed \(exit 1\): .*; the next build tries again$/,
      );
      assert.equal(pipRuns(lines.map((l) => l.line)), 1, `build ${build} tries again`);
      assert.equal(
        lines.filter((l) => l.level === 'ERROR').length,
        0,
        'no ERROR line: the build did not fail',
      );
    }
    assert.deepEqual(
      readdirSync(dirs.pythonBase).filter((n) => !n.endsWith('.lock')),
      [],
      'nothing half-built is left',
    );
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
});

test('a venv whose base is gone or not ready is layered over nothing', () => {
  const venv = join(root, 'lonely');
  mkdirSync(join(venv, 'lib', 'python3.11', 'site-packages'), { recursive: true });
  assert.equal(layeredBaseOf(venv), null);
  writeFileSync(
    join(venv, 'lib', 'python3.11', 'site-packages', BASE_PTH),
    '/nowhere/lib/python3.11/site-packages\n',
  );
  assert.equal(layeredBaseOf(venv), '/nowhere');
  assert.equal(layerPythonBase(venv, null), null, 'a base that is not ready is not recorded');
});

// `plinth fetch-artifacts --model-server-into`: the Python model server a base_image pod runs is
// copied whole (every module, no bytecode caches), and it starts from there on a plain Python.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { copyModelServer } from './fetch-artifacts.ts';

test('the model server is copied whole, and its replica takes the environment first on a foreign interpreter', () => {
  const into = join(mkdtempSync(join(tmpdir(), 'plinth-model-server-')), 'model-server');
  copyModelServer(into);
  const files = readdirSync(into);
  for (const f of ['server.py', 'plinth_model.py', 'plinth_replica.py', 'plinth_http.py'])
    assert.ok(files.includes(f), `${f} copied`);
  assert.ok(!files.includes('__pycache__'));

  // A venv-shaped environment with a module of its own and a .pth layer: on an interpreter that is
  // not the venv's (PLINTH_ENV_SITE=1), both come first on the path.
  const env = mkdtempSync(join(tmpdir(), 'plinth-env-'));
  const site = join(env, 'lib', 'python3.11', 'site-packages');
  const layer = join(env, 'layer');
  mkdirSync(site, { recursive: true });
  mkdirSync(layer);
  writeFileSync(join(site, 'pinned_thing.py'), 'WHERE = "environment"\n');
  writeFileSync(join(site, 'base.pth'), `${layer}\n`);
  const out = execFileSync(
    'python3',
    [
      '-c',
      'import sys; import plinth_replica as r; r.become_replica(); import pinned_thing; print(pinned_thing.WHERE); print(sys.path[0]); print(sys.path.index(sys.argv[1]) < 3)',
      layer,
    ],
    {
      cwd: into,
      env: { ...process.env, PYTHONPATH: into, PLINTH_ENV_SITE: '1', PLINTH_ENV_DIR: env },
      encoding: 'utf8',
    },
  ).split('\n');
  assert.equal(out[0], 'environment');
  assert.equal(out[1], site);
  assert.equal(out[2], 'True', 'the .pth layer is early on the path too');
});

import { scratchDir } from '../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BuildError, nodeEnvironmentHash, prepareNodeEnvironment } from './node-environment.ts';

const root = scratchDir('build');

function app(name: string, pkg?: object): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'model'), { recursive: true });
  if (pkg) writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
  return dir;
}

test('a model without package.json needs no environment', async () => {
  const lines: string[] = [];
  assert.equal(await prepareNodeEnvironment(app('plain'), join(root, 'envs'), (l) => lines.push(l)), null);
  assert.match(lines.join('\n'), /no package.json/);
});

test('dependencies are installed once per lockfile hash and linked into each app', async () => {
  const pkg = { name: 'm', version: '1.0.0', private: true, dependencies: {} };
  const envs = join(root, 'envs');
  const firstLog: string[] = [];
  const a = app('a', pkg);
  const envA = await prepareNodeEnvironment(a, envs, (l) => firstLog.push(l));
  assert.ok(envA && existsSync(join(envA, 'node_modules')));
  assert.equal(readlinkSync(join(a, 'node_modules')), join(envA, 'node_modules'));
  assert.match(firstLog.join('\n'), /\$ npm install --omit=dev/);

  const secondLog: string[] = [];
  const b = app('b', pkg);
  assert.equal(nodeEnvironmentHash(a), nodeEnvironmentHash(b));
  assert.equal(await prepareNodeEnvironment(b, envs, (l) => secondLog.push(l)), envA);
  assert.match(secondLog.join('\n'), /dependencies unchanged: reusing cached environment/);
  assert.doesNotMatch(secondLog.join('\n'), /\$ npm/);

  const c = app('c', { ...pkg, version: '2.0.0' });
  assert.notEqual(nodeEnvironmentHash(c), nodeEnvironmentHash(a));
});

test("a failed install is a BuildError carrying npm's own message", async () => {
  const broken = app('broken', {
    name: 'broken',
    version: '1.0.0',
    dependencies: { 'left-pad': 'not a valid version range !!' },
  });
  await assert.rejects(
    prepareNodeEnvironment(broken, join(root, 'envs'), () => {}),
    (err: unknown) => {
      assert.ok(err instanceof BuildError);
      assert.match(err.message, /^npm install failed \(exit \d+\): npm error/);
      assert.match(err.message, /Invalid|invalid|EINVALID|not a valid/);
      return true;
    },
  );
  assert.deepEqual(
    existsSync(join(root, 'envs'))
      ? (await import('node:fs')).readdirSync(join(root, 'envs')).filter((n) => n.includes('partial'))
      : [],
    [],
    'no half-built environment is left behind',
  );
});

import { scratchDir } from '../../../test/support/scratch.ts';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { homeEntryMode, secureHome } from './home-permissions.ts';

const root = scratchDir('home-perms');
const mode = (p: string): number => statSync(p).mode & 0o7777;

/** A home as `plinth up` and a umask of 022 leave it. */
function openHome(name: string): string {
  const home = join(root, name);
  for (const dir of ['bundles', 'environments', 'deployments/d1/app', 'run/replicas'])
    mkdirSync(join(home, dir), { recursive: true, mode: 0o755 });
  for (const file of ['plinth.db', 'plinth.db-wal', 'secret.key', 'instance_types.yaml'])
    writeFileSync(join(home, file), 'x', { mode: 0o644 });
  writeFileSync(join(home, 'credentials.json'), '{}', { mode: 0o600 });
  symlinkSync('/etc/hostname', join(home, 'a-link'));
  chmodSync(home, 0o755);
  return home;
}

test('the home is closed: 0700, its files 0600 and its directories 0700, whatever the umask made them', () => {
  const home = openHome('closed');
  secureHome(home, false);
  assert.equal(mode(home), 0o700);
  for (const file of ['plinth.db', 'plinth.db-wal', 'secret.key', 'credentials.json', 'instance_types.yaml'])
    assert.equal(mode(join(home, file)), 0o600, file);
  for (const dir of ['bundles', 'environments', 'deployments', 'run'])
    assert.equal(mode(join(home, dir)), 0o700, dir);
  assert.equal(mode(join(home, 'deployments', 'd1')), 0o755, 'below the top level the closed parents decide');
});

test('where replica users cross the home by path, it and its deployments and environments are 0711', () => {
  const home = openHome('crossable');
  secureHome(home, true);
  assert.equal(mode(home), 0o711);
  assert.equal(mode(join(home, 'deployments')), 0o711);
  assert.equal(mode(join(home, 'environments')), 0o711);
  assert.equal(mode(join(home, 'bundles')), 0o700);
  assert.equal(mode(join(home, 'run')), 0o700);
  assert.equal(mode(join(home, 'plinth.db')), 0o600);
  assert.equal(homeEntryMode(home, 'a-link', 'other', true), null, 'links are left alone');
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { checkSystemPackages, describeSystemPackagesCheck } from './system-packages.ts';

const hasDpkg = (() => {
  try {
    execFileSync('dpkg-query', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test(
  'system_packages: dpkg-query names the missing ones, in one warning line',
  { skip: !hasDpkg && 'no dpkg-query here' },
  async () => {
    assert.deepEqual(await checkSystemPackages(['dpkg', 'base-files=99']), { kind: 'ok' });
    const check = await checkSystemPackages(['dpkg', 'plinth-no-such-package', 'plinth-nor-this:amd64']);
    assert.deepEqual(check, {
      kind: 'missing',
      missing: ['plinth-no-such-package', 'plinth-nor-this:amd64'],
    });
    assert.equal(
      describeSystemPackagesCheck(check),
      "WARNING: system_packages not installed on this machine: plinth-no-such-package, plinth-nor-this:amd64 — Plinth installs no system packages: install them (apt-get install plinth-no-such-package plinth-nor-this:amd64); on Kubernetes the replicas' image decides",
    );
  },
);

test('system_packages: without dpkg-query, one warning that they cannot be checked', async () => {
  const check = await checkSystemPackages(['ffmpeg'], '/nonexistent/dpkg-query');
  assert.equal(check.kind, 'unchecked');
  assert.match(
    describeSystemPackagesCheck(check)!,
    /^WARNING: system_packages cannot be checked: \/nonexistent\/dpkg-query is not on this machine/,
  );
  assert.equal(describeSystemPackagesCheck({ kind: 'ok' }), null);
});

test('system_packages: a name that is no Debian package name is never passed on', async () => {
  // The schema refuses these at push; here too nothing reaches dpkg-query.
  assert.deepEqual(await checkSystemPackages(['--admindir=/tmp', '$(reboot)'], '/nonexistent/dpkg-query'), {
    kind: 'ok',
  });
});

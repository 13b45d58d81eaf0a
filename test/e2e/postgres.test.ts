// e2e: `plinth up --store postgres://…` keeps its state in a real PostgreSQL: push and call a
// model, restart the server, and the deployment, its key and its logs are all still there.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestDatabase } from '../support/postgres-database.ts';
import type { TestDatabase } from '../support/postgres-database.ts';
import { startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let database: TestDatabase;
let platform: Platform | undefined;
before(async () => {
  database = await createTestDatabase();
});
after(async () => {
  await platform?.stop();
  await database?.drop();
});

test('a server on PostgreSQL serves a pushed model, and after a restart still has it', async () => {
  platform = await startPlatform(undefined, ['--store', database.url]);
  const pushed = await platform.cli(['push', 'examples/hello']);
  assert.equal(pushed.code, 0, pushed.stderr);
  const call = async () => {
    const res = await fetch(`${platform!.url}/models/hello/production/predict`, {
      method: 'POST',
      body: JSON.stringify({ text: 'Postgres' }),
    });
    return { status: res.status, body: await res.text() };
  };
  const first = await call();
  assert.equal(first.status, 200, first.body);

  const home = platform.home;
  await platform.stop({ keepHome: true });
  platform = await startPlatform(home, ['--store', database.url]);
  const again = await call();
  assert.deepEqual(again, first, 'the same answer from the same deployment, with the same key');
  const logs = await platform.api<{ logs: { message: string }[] }>(
    'GET',
    '/v1/models/hello/deployments/production/logs?limit=1000',
  );
  assert.ok(
    logs.body.logs.some((l) => /ready at/.test(l.message)),
    'the logs written before the restart are kept',
  );
});

test('a --store that is not a postgres:// URL is refused with a message naming the flag', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['bin/plinth.js', 'up', '--port', '0', '--store', 'mysql://x'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--store mysql:\/\/x: expected a postgres:\/\/ URL/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('an unreachable PostgreSQL is one line naming it, without its password or a stack trace', async () => {
  const { spawnSync } = await import('node:child_process');
  const home = mkdtempSync(join(tmpdir(), 'plinth-e2e-nopg-'));
  for (const command of [['up', '--home', home], ['gateway']]) {
    const r = spawnSync(
      process.execPath,
      ['bin/plinth.js', ...command, '--port', '0', '--store', 'postgres://plinth:hunter2@127.0.0.1:1/plinth'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr.trim(),
      'error: cannot reach the PostgreSQL store at postgres://plinth:***@127.0.0.1:1/plinth: connect ECONNREFUSED 127.0.0.1:1',
    );
  }
  rmSync(home, { recursive: true, force: true });
});

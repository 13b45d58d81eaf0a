// The server's settings: every default in one place, values from flags coerced and checked, a bad
// one named by its flag, the result frozen.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatewayConfig, serverConfig, ServerConfigError } from './server-config.ts';

test('defaults fill what is not given, and the result is frozen', () => {
  const config = serverConfig({ homeDir: '/tmp/h' });
  assert.equal(config.port, 4780);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.maxQueue, 1000);
  assert.equal(config.parkTimeoutS, 600);
  assert.equal(config.drainS, 30);
  assert.equal(config.store, undefined);
  assert.ok(Object.isFrozen(config));
  assert.throws(() => {
    (config as { port: number }).port = 1;
  }, TypeError);
  const k8s = serverConfig({ homeDir: '/h', kubernetes: { publicUrl: 'http://plinth:4780' } });
  assert.ok(Object.isFrozen(k8s.kubernetes), 'nested settings are frozen too');
  assert.equal(gatewayConfig({ store: 'postgres://x/y' }).port, 4781);
});

test('flag values (strings) are coerced', () => {
  const config = serverConfig({ homeDir: '/h', port: '0', maxQueue: '20', parkTimeoutS: '1.5' });
  assert.deepEqual([config.port, config.maxQueue, config.parkTimeoutS], [0, 20, 1.5]);
});

test('a bad value is one line naming the flag and what was given', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ maxQueue: '-1' }, /^--max-queue -1: /],
    [{ parkTimeoutS: 'soon' }, /^--park-timeout soon: /],
    [{ port: '70000' }, /^--port 70000: /],
    [{ store: 'mysql://x' }, /^--store mysql:\/\/x: expected a postgres:\/\/ URL/],
    [
      { deactivateAfterIdleS: '2 weeks' },
      /^--deactivate-after-idle 2 weeks: expected a duration such as 90s/,
    ],
    [{ deactivateAfterIdleS: '0s' }, /^--deactivate-after-idle 0s: expected a duration/],
    [
      { kubernetes: { publicUrl: 'plinth:4780' } },
      /^--public-url plinth:4780: expected the http\(s\):\/\/ URL/,
    ],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => serverConfig({ homeDir: '/h', ...input }),
      (err: unknown) => err instanceof ServerConfigError && message.test(err.message),
      JSON.stringify(input),
    );
  }
  assert.throws(
    () => gatewayConfig({ store: '' }),
    /^ServerConfigError: --store \(none\): a gateway needs the postgres/,
  );
});

test('--deactivate-after-idle takes a duration (14d, 90s) as seconds; absent, nothing is deactivated', () => {
  assert.equal(serverConfig({ homeDir: '/h', deactivateAfterIdleS: '14d' }).deactivateAfterIdleS, 1_209_600);
  assert.equal(serverConfig({ homeDir: '/h', deactivateAfterIdleS: '90s' }).deactivateAfterIdleS, 90);
  assert.equal(serverConfig({ homeDir: '/h', deactivateAfterIdleS: 3 }).deactivateAfterIdleS, 3);
  assert.equal(serverConfig({ homeDir: '/h' }).deactivateAfterIdleS, undefined);
});

test('--gateway-workers: 1 by default; a whole number from 1 to 64, for `plinth up` only with PostgreSQL', () => {
  assert.equal(serverConfig({ homeDir: '/h' }).gatewayWorkers, 1);
  assert.equal(gatewayConfig({ store: 'postgres://x/y' }).gatewayWorkers, 1);
  assert.equal(gatewayConfig({ store: 'postgres://x/y', gatewayWorkers: '4' }).gatewayWorkers, 4);
  assert.equal(
    serverConfig({ homeDir: '/h', store: 'postgres://x/y', gatewayWorkers: '64' }).gatewayWorkers,
    64,
  );
  for (const bad of ['0', '65', '2.5', 'many', '-1']) {
    assert.throws(
      () => gatewayConfig({ store: 'postgres://x/y', gatewayWorkers: bad }),
      (err: unknown) =>
        err instanceof ServerConfigError &&
        err.message === `--gateway-workers ${bad}: expected a whole number of processes from 1 to 64`,
      bad,
    );
  }
  assert.throws(
    () => serverConfig({ homeDir: '/h', gatewayWorkers: '2' }),
    (err: unknown) =>
      err instanceof ServerConfigError &&
      err.message ===
        '--gateway-workers 2: needs a PostgreSQL store (--store postgres://…): the workers share routes, keys and request counts through it',
  );
  assert.equal(
    serverConfig({ homeDir: '/h', gatewayWorkers: '1' }).gatewayWorkers,
    1,
    'one process: SQLite is fine',
  );
});

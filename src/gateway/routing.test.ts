import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchInference } from './routing.ts';

test('host-form and path-form inference URLs resolve to the same routes', () => {
  const table: [string | undefined, string, ReturnType<typeof matchInference>][] = [
    [
      'model-mabc2345.localhost:4780',
      '/environments/production/predict',
      { modelRef: 'mabc2345', target: { kind: 'environment', name: 'production' }, action: 'predict' },
    ],
    [
      'model-mabc2345.localhost:4780',
      '/environments/staging/predict?x=1',
      { modelRef: 'mabc2345', target: { kind: 'environment', name: 'staging' }, action: 'predict' },
    ],
    [
      'model-mabc2345.localhost',
      '/deployment/dxyz2345/predict',
      { modelRef: 'mabc2345', target: { kind: 'deployment', id: 'dxyz2345' }, action: 'predict' },
    ],
    [
      'model-mabc2345.localhost',
      '/development/predict',
      { modelRef: 'mabc2345', target: { kind: 'development' }, action: 'predict' },
    ],
    [
      'model-mabc2345.localhost',
      '/production/predict',
      { modelRef: 'mabc2345', target: { kind: 'environment', name: 'production' }, action: 'predict' },
    ],
    [
      'model-mabc2345.localhost',
      '/production/wake',
      { modelRef: 'mabc2345', target: { kind: 'environment', name: 'production' }, action: 'wake' },
    ],
    [
      'localhost:4780',
      '/models/mabc2345/environments/production/predict',
      { modelRef: 'mabc2345', target: { kind: 'environment', name: 'production' }, action: 'predict' },
    ],
    [
      '127.0.0.1:4780',
      '/models/hello/deployment/dxyz2345/predict',
      { modelRef: 'hello', target: { kind: 'deployment', id: 'dxyz2345' }, action: 'predict' },
    ],
    [
      '127.0.0.1',
      '/models/hello/development/wake',
      { modelRef: 'hello', target: { kind: 'development' }, action: 'wake' },
    ],
    [
      '127.0.0.1',
      '/models/hello/production/predict',
      { modelRef: 'hello', target: { kind: 'environment', name: 'production' }, action: 'predict' },
    ],
  ];
  for (const [host, url, expected] of table)
    assert.deepEqual(matchInference(host, url), expected, `${host} ${url}`);
});

test('anything else is not an inference request', () => {
  const misses: [string | undefined, string][] = [
    ['localhost:4780', '/v1/models'],
    ['localhost:4780', '/'],
    ['localhost:4780', '/models/hello'],
    ['localhost:4780', '/models/hello/environments/predict'],
    ['localhost:4780', '/models/hello/environments/a/b/predict'],
    ['localhost:4780', '/models/hello/deployment/x/explode'],
    ['model-abc.localhost', '/healthz'],
    ['model-abc.localhost', '/environments/../predict'],
    [undefined, '/environments/production/predict'],
  ];
  for (const [host, url] of misses) assert.equal(matchInference(host, url), null, `${host} ${url}`);
});

test('the host form counts only under the configured suffixes', () => {
  const predict = '/environments/production/predict';
  assert.ok(matchInference('model-m1.localhost:4780', predict));
  assert.equal(matchInference('model-m1.evil.example', predict), null, 'any suffix no longer matches');
  assert.equal(matchInference('model-m1.localhost.evil.example', predict), null);
  assert.ok(matchInference('model-m1.plinth.example.com', predict, ['localhost', 'plinth.example.com']));
  assert.ok(
    matchInference('MODEL-m1.PLINTH.example.com.', predict, ['plinth.example.com']),
    'case and a final dot',
  );
  assert.ok(matchInference('anything.example', `/models/m1${predict}`), 'the path form needs no host');
});

test('…/sync/{path} passes the rest of the path and the query through, on every target and in both forms', () => {
  const sync = (target: unknown, path: string) => ({ modelRef: 'mabc2345', target, action: 'sync', path });
  const production = { kind: 'environment', name: 'production' };
  const cases: [string | undefined, string, unknown][] = [
    [
      'localhost',
      '/models/mabc2345/environments/production/sync/v1/chat/completions',
      sync(production, '/v1/chat/completions'),
    ],
    [
      'model-mabc2345.localhost',
      '/environments/production/sync/v1/models?x=1&y=%2F',
      sync(production, '/v1/models?x=1&y=%2F'),
    ],
    [
      'model-mabc2345.localhost',
      '/environments/sync-env/sync/health',
      sync({ kind: 'environment', name: 'sync-env' }, '/health'),
    ],
    [
      'localhost',
      '/models/mabc2345/deployment/dxyz2345/sync/a//b/',
      sync({ kind: 'deployment', id: 'dxyz2345' }, '/a//b/'),
    ],
    ['localhost', '/models/mabc2345/development/sync', sync({ kind: 'development' }, '/')],
    ['localhost', '/models/mabc2345/production/sync/', sync(production, '/')],
    ['localhost', '/models/mabc2345/production/sync?q=1', sync(production, '/?q=1')],
    ['localhost', '/models/mabc2345/production/sync/predict', sync(production, '/predict')],
  ];
  for (const [host, url, expected] of cases) assert.deepEqual(matchInference(host, url), expected, url);
  assert.equal(matchInference('localhost', '/models/mabc2345/production/synced'), null);
  assert.equal(matchInference('localhost', '/models/mabc2345/production/predict/extra'), null);
});

/** Each target of an inference URL, as its path names it and as the route has it. */
const TARGETS: [string, unknown][] = [
  ['environments/staging', { kind: 'environment', name: 'staging' }],
  ['deployment/dxyz2345', { kind: 'deployment', id: 'dxyz2345' }],
  ['development', { kind: 'development' }],
  ['production', { kind: 'environment', name: 'production' }],
];

test('…/websocket is a route of its own on every target, in both forms', () => {
  for (const [target, expected] of TARGETS) {
    const route = { modelRef: 'mabc2345', target: expected, action: 'websocket' };
    assert.deepEqual(matchInference('model-mabc2345.localhost:4780', `/${target}/websocket`), route, target);
    assert.deepEqual(matchInference('localhost:4780', `/models/mabc2345/${target}/websocket?x=1`), route);
  }
  assert.equal(matchInference('localhost', '/models/mabc2345/production/websocket/extra'), null);
  assert.equal(matchInference('localhost', '/models/mabc2345/production/websockets'), null);
});

test('the path form names a model by its URL-encoded name; the host form stays id-only', () => {
  assert.deepEqual(
    matchInference('localhost:4780', '/models/My%20Model%20v2/environments/production/predict'),
    {
      modelRef: 'My Model v2',
      target: { kind: 'environment', name: 'production' },
      action: 'predict',
    },
  );
  assert.deepEqual(
    matchInference('localhost', '/models/Llama%203.1%20(8B)%2C%20%C3%A9/development/sync/v1/models?a=1'),
    {
      modelRef: 'Llama 3.1 (8B), é',
      target: { kind: 'development' },
      action: 'sync',
      path: '/v1/models?a=1',
    },
  );
  // Names no model can have, and bad escapes, are no route.
  assert.equal(matchInference('localhost', '/models/a%2Fb/production/predict'), null);
  assert.equal(matchInference('localhost', '/models/%20lead/production/predict'), null);
  assert.equal(matchInference('localhost', '/models/a%0Ab/production/predict'), null);
  assert.equal(matchInference('localhost', '/models/%E0%A4%A/production/predict'), null);
  assert.equal(matchInference('model-My%20Model.localhost', '/production/predict'), null);
});

test('the async routes exist on every target, in both forms', () => {
  for (const [target, expected] of TARGETS) {
    for (const action of ['async_predict', 'async_queue_status']) {
      const route = { modelRef: 'mabc2345', target: expected, action };
      assert.deepEqual(matchInference('model-mabc2345.localhost', `/${target}/${action}`), route, target);
      assert.deepEqual(matchInference('localhost', `/models/mabc2345/${target}/${action}`), route, target);
    }
    const request = {
      modelRef: 'mabc2345',
      target: expected,
      action: 'async_request',
      requestId: 'ar7k2m9x',
    };
    assert.deepEqual(
      matchInference('model-mabc2345.localhost', `/${target}/async_request/ar7k2m9x`),
      request,
    );
    assert.deepEqual(
      matchInference('localhost', `/models/mabc2345/${target}/async_request/ar7k2m9x`),
      request,
    );
  }
  assert.equal(matchInference('localhost', '/models/mabc2345/production/async_request'), null);
  assert.equal(matchInference('localhost', '/models/mabc2345/production/async_request/a/b'), null);
});

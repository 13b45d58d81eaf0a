import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deploymentInput } from '../../test/support/deployment-input.ts';
import { isPlinthError } from '../domain/errors.ts';
import type { Deployment } from '../domain/types.ts';
import { predictPathOf, syncPathOf } from './replica-paths.ts';

const deployment = (config: Record<string, unknown>): Deployment =>
  ({ ...deploymentInput('m1', { config }), id: 'd1' }) as unknown as Deployment;
const custom = deployment({ docker_server: { predict_endpoint: '/generate' } });
const model = deployment({});

test("…/sync reaches any route of a custom server, but only a model server's OpenAI routes", () => {
  assert.equal(syncPathOf(custom, '/v1/environment'), '/v1/environment');
  assert.equal(syncPathOf(custom, '/anything?x=1'), '/anything?x=1');
  assert.equal(syncPathOf(model, '/v1/chat/completions?stream=1'), '/v1/chat/completions?stream=1');
  for (const platformRoute of [
    '/v1/environment',
    '/v1/models/model',
    '/v1/websocket',
    '/v1/models/model:predict',
  ]) {
    assert.throws(
      () => syncPathOf(model, platformRoute),
      (err) => isPlinthError(err) && err.code === 'NOT_FOUND' && err.message.includes(platformRoute),
    );
  }
});

test("…/predict reaches a custom server's predict_endpoint, else the model server's predict route", () => {
  assert.equal(predictPathOf(custom), '/generate');
  assert.equal(predictPathOf(model), '/v1/models/model:predict');
});

// e2e: what a deployment was made from. `GET …/config` answers the config.yaml it runs (its text
// and as parsed); `plinth deployments download` saves its bundle, and pushing that bundle again
// (unpacked) makes an identical deployment: the same bundle hash. `POST /v1/secrets {name, value}`
// sets a secret as DESIGN §5 says, beside `PUT /v1/secrets/{name}`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { pushed, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const work = mkdtempSync(join(tmpdir(), 'plinth-e2e-download-'));
before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
  rmSync(work, { recursive: true, force: true });
});

const CONFIG = '# the model as it was pushed\nmodel_name: kept\nenvironment_variables:\n  GREETING: hi\n';

test('a downloaded bundle pushed again is the same deployment: the same bundle hash; its config answers as text and parsed', async () => {
  const dir = writeTree(join(work, 'kept'), {
    'config.yaml': CONFIG,
    'model/model.ts': 'export class Model { predict() { return { greeting: process.env.GREETING }; } }\n',
    'model/helpers/words.ts': 'export const WORDS = ["a", "b"];\n',
  });
  const first = await pushed(platform, dir);
  const d1 = await platform.api<{ bundle_sha256: string }>(
    'GET',
    `/v1/models/kept/deployments/${first.deployment_id}`,
  );
  const config = await platform.api<{ config_yaml: string; config: { environment_variables: object } }>(
    'GET',
    `/v1/models/kept/deployments/${first.deployment_id}/config`,
  );
  assert.equal(config.status, 200);
  assert.equal(config.body.config_yaml, CONFIG);
  assert.deepEqual(config.body.config.environment_variables, { GREETING: 'hi' });

  const file = join(work, 'kept.tar.gz');
  const saved = await platform.cli([
    'deployments',
    'download',
    first.deployment_id,
    '--model',
    'kept',
    '--out',
    file,
  ]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.match(saved.stdout, new RegExp(`bundle ${d1.body.bundle_sha256}`));
  const unpacked = join(work, 'unpacked', 'kept');
  mkdirSync(unpacked, { recursive: true });
  execFileSync('tar', ['-xzf', file, '-C', unpacked]);
  const second = await pushed(platform, unpacked);
  const d2 = await platform.api<{ bundle_sha256: string }>(
    'GET',
    `/v1/models/kept/deployments/${second.deployment_id}`,
  );
  assert.notEqual(second.deployment_id, first.deployment_id);
  assert.equal(d2.body.bundle_sha256, d1.body.bundle_sha256, 'the same bundle');
});

test('POST /v1/secrets {name, value} sets a secret (and replaces it), as PUT does', async () => {
  const made = await platform.api<{ name: string }>('POST', '/v1/secrets', {
    name: 'posted_token',
    value: 'one',
  });
  assert.equal(made.status, 200, JSON.stringify(made.body));
  assert.equal(made.body.name, 'posted_token');
  const again = await platform.api('POST', '/v1/secrets', { name: 'posted_token', value: 'two' });
  assert.equal(again.status, 200);
  const listed = await platform.api<{ secrets: { name: string }[] }>('GET', '/v1/secrets');
  assert.equal(listed.body.secrets.filter((s) => s.name === 'posted_token').length, 1);
  assert.ok(!JSON.stringify(listed.body).includes('two'), 'no value is answered');
  const bad = await platform.api<{ error: { message: string } }>('POST', '/v1/secrets', { name: 'x' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /value/);
});

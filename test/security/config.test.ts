// Security: a hostile config.yaml (huge, key-heavy, expanding anchors) is one clear 400 naming the
// file, and the server keeps serving; parsing a config never holds up the server's event loop.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { packDirectory } from '../../src/bundle/pack.ts';
import { pushBundle } from '../support/push-bundle.ts';
import { scratchDir } from '../support/scratch.ts';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from '../e2e/harness.ts';
import type { Platform } from '../e2e/harness.ts';

let platform: Platform;
const scratch = scratchDir('security-config');
const MODEL = 'export class Model { predict() { return 1; } }\n';

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
});

async function push(name: string, config: string) {
  const packed = await packDirectory(
    writeTree(`${scratch}/${name}`, { 'config.yaml': config, 'model/model.js': MODEL }),
  );
  return pushBundle(platform.url, platform.apiKey, name, packed.bytes, packed.sha256);
}

test('a config.yaml of 500,000 keys is refused at once with one clear 400; the server serves on', async () => {
  const keys = Array.from({ length: 500_000 }, (_, i) => `  k${i}: ${i}`).join('\n');
  const out = await push('many-keys', `model_name: many-keys\nmodel_metadata:\n${keys}\n`);
  assert.equal(out.status, 400);
  assert.equal(out.body.error?.code, 'INVALID_CONFIG');
  assert.match(out.body.error!.message, /^config\.yaml: is \d+ KiB; the limit is 256 KiB$/);
  assert.equal((await fetch(`${platform.url}/healthz`)).status, 200);
});

test('under the size limit, too many keys is refused naming the limit', async () => {
  const keys = Array.from({ length: 12_000 }, (_, i) => `  k${i}: 1`).join('\n');
  const out = await push('keyed', `model_metadata:\n${keys}\n`);
  assert.equal(out.status, 400);
  assert.match(out.body.error!.message, /^config\.yaml: has more than 10000 keys/);
});

test('a billion-laughs config (anchors that expand exponentially) is a 400, not a 500', async () => {
  const laughs = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    'model_metadata: *f',
  ].join('\n');
  const out = await push('laughs', laughs);
  assert.equal(out.status, 400);
  assert.equal(out.body.error?.code, 'INVALID_CONFIG');
  assert.match(out.body.error!.message, /anchors expand too much/);
});

test('duplicate keys are still refused, naming the key', async () => {
  const out = await push('dupes', 'model_name: a\nmodel_name: b\n');
  assert.equal(out.status, 400);
  assert.match(out.body.error!.message, /key "model_name" appears twice/);
});

test('a push to the development deployment is held to the same config.yaml limits, and a config.yaml that is a directory is a 400', async () => {
  const dev = async (name: string, files: Record<string, string>) => {
    const packed = await packDirectory(
      writeTree(`${scratch}/${name}`, { 'model/model.js': MODEL, ...files }),
    );
    return pushBundle(platform.url, platform.apiKey, 'dev-limits', packed.bytes, packed.sha256, {
      development: true,
    });
  };
  const first = await dev('dev-1', { 'config.yaml': 'model_name: dev-limits\n' });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  // 16 MB of config: refused by its size on disk, before it is read (200 MB of it ended the server).
  const huge = await dev('dev-2', {
    'config.yaml': `model_name: dev-limits\nmodel_metadata:\n  x: "${randomBytes(12 * 1024 ** 2).toString('base64')}"\n`,
  });
  assert.equal(huge.status, 400, JSON.stringify(huge.body));
  assert.match(huge.body.error!.message, /config\.yaml: is \d+ KiB; the limit is 256 KiB/);
  const dir = await dev('dev-3', { 'config.yaml/x': 'y' });
  assert.equal(dir.status, 400, JSON.stringify(dir.body));
  assert.match(dir.body.error!.message, /config\.yaml: must be a file/);
  assert.equal((await fetch(`${platform.url}/healthz`)).status, 200);
});

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../config/parse.ts';
import { FakeHub } from '../../test/support/fake-hf-hub.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { WeightsCache } from './cache.ts';
import { WeightsFetcher } from './fetcher.ts';
import { MANIFEST_FILE, readManifest } from './place.ts';

const dir = scratchDir('weights-fetch');
let hub: FakeHub;
let secrets: Record<string, string> = {};
let fetcher: WeightsFetcher;
let cache: WeightsCache;
const lines: string[] = [];
const log = (line: string): void => void lines.push(line);

before(async () => {
  hub = await FakeHub.start();
  hub.add('org/model', {
    files: { 'config.json': '{"a":1}', 'weights.bin': Buffer.alloc(50_000, 3), 'onnx/m.onnx': 'onnx' },
    lfs: ['weights.bin'],
  });
  hub.add('org/private', { files: { 'secret.txt': 'gated' }, private: true });
  hub.add('evil/repo', {
    files: { 'ok.txt': 'ok' },
    extraListing: [{ type: 'file', path: '../escape.txt', size: 1, oid: 'x' }],
  });
  cache = new WeightsCache(join(dir, 'cache'));
  fetcher = new WeightsFetcher({
    cache,
    hfEndpoint: hub.url,
    secret: (n) => secrets[n],
    localRoots: [join(dir, 'local')],
  });
});
after(() => hub.close());

const config = (yaml: string) => parseConfig(yaml).config;
let apps = 0;
const appDir = (): string => {
  const d = join(dir, `app-${apps++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

test('hub files land at mount_location (patterns applied), linked from the cache; a second app downloads nothing', async () => {
  const yaml =
    'weights:\n  - source: hf://org/model@main\n    mount_location: /app/models/m\n    ignore_patterns: ["onnx/"]\n';
  const first = appDir();
  await fetcher.fetch(first, config(yaml), log);
  assert.equal(readFileSync(join(first, 'models/m/config.json'), 'utf8'), '{"a":1}');
  assert.equal(statSync(join(first, 'models/m/weights.bin')).size, 50_000);
  assert.ok(!existsSync(join(first, 'models/m/onnx')));
  const manifest = readManifest(first);
  assert.deepEqual(manifest.map((f) => f.path).sort(), ['models/m/config.json', 'models/m/weights.bin']);
  // A hard link to the read-only blob.
  const placed = statSync(join(first, 'models/m/weights.bin'));
  assert.equal(
    placed.ino,
    statSync(cache.blobPath(manifest.find((f) => f.path.endsWith('.bin'))!.sha256)).ino,
  );
  assert.ok(
    lines.some((l) =>
      /^weights\[0\] \(hf:\/\/org\/model@main\): 2 files .* 2 downloaded, 0 from the cache$/.test(l),
    ),
    lines.join('\n'),
  );

  const downloads = hub.downloads.length;
  const second = appDir();
  await fetcher.fetch(second, config(yaml), log);
  assert.equal(hub.downloads.length, downloads);
  assert.equal(readFileSync(join(second, 'models/m/config.json'), 'utf8'), '{"a":1}');
  assert.match(lines.at(-1)!, /0 downloaded, 2 from the cache$/);
});

test('model_cache without use_volume is laid out as the Hugging Face cache (refs and snapshots)', async () => {
  const app = appDir();
  await fetcher.fetch(
    app,
    config('model_cache:\n  - repo_id: org/model\n    allow_patterns: ["*.json"]\n'),
    log,
  );
  const commit = hub.commit('org/model');
  const repoDir = join(app, '.plinth-hf-cache/models--org--model');
  assert.equal(readFileSync(join(repoDir, 'refs/main'), 'utf8'), commit);
  assert.equal(readFileSync(join(repoDir, 'snapshots', commit, 'config.json'), 'utf8'), '{"a":1}');
});

test('a private repository needs the hf_access_token secret, sent as a Bearer token', async () => {
  const yaml = 'model_cache:\n  - repo_id: org/private\n    use_volume: true\n    volume_folder: p\n';
  secrets = {};
  await assert.rejects(fetcher.fetch(appDir(), config(yaml), log), /answered HTTP 401 .*hf_access_token/);
  secrets = { hf_access_token: hub.token };
  const app = appDir();
  await fetcher.fetch(app, config(yaml), log);
  assert.equal(readFileSync(join(app, 'model_cache/p/secret.txt'), 'utf8'), 'gated');
  assert.equal(hub.downloadsOf('org/private', 'secret.txt')[0]!.authorization, `Bearer ${hub.token}`);
  assert.ok(!lines.some((l) => l.includes(hub.token)), 'the token is never logged');
});

test('a listing naming a file outside the repository is refused, and nothing is written', async () => {
  const app = appDir();
  await assert.rejects(
    fetcher.fetch(app, config('weights:\n  - source: hf://evil/repo\n    mount_location: /app/w\n'), log),
    /the listing names a file outside the repository: "\.\.\/escape\.txt"/,
  );
  assert.ok(
    !existsSync(join(app, 'escape.txt')) &&
      !existsSync(join(app, 'w')) &&
      !existsSync(join(app, MANIFEST_FILE)),
  );
});

test('a local source is read only from an allowed directory', async () => {
  mkdirSync(join(dir, 'local/set'), { recursive: true });
  writeFileSync(join(dir, 'local/set/a.txt'), 'local');
  const app = appDir();
  await fetcher.fetch(
    app,
    config(`weights:\n  - source: ${join(dir, 'local/set')}\n    mount_location: /app/l\n`),
    log,
  );
  assert.equal(readFileSync(join(app, 'l/a.txt'), 'utf8'), 'local');
  await assert.rejects(
    fetcher.fetch(appDir(), config('weights:\n  - source: /etc\n    mount_location: /app/l\n'), log),
    /weights\[0\] \(\/etc\): local sources are read only from the directories PLINTH_WEIGHTS_LOCAL_DIRS names/,
  );
});

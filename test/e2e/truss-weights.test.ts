// e2e: Truss `weights`, `model_cache` and `external_data`, downloaded at build from the in-repo fake
// hub and a local HTTP server into the home's shared cache: the files land where the model reads
// them, a second deployment and a second replica download nothing, two builds at once fetch each
// file once, a download cut off resumes, and a 404 fails the build naming the file.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FakeHub } from '../support/fake-hf-hub.ts';
import { until } from '../support/wait.ts';
import { writeTree } from '../support/write-tree.ts';
import { pushed, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
let hub: FakeHub;
let files: Server;
let filesUrl = '';
const fileRequests: string[] = [];
const work = mkdtempSync(join(tmpdir(), 'plinth-e2e-weights-'));
const BIG = Buffer.alloc(600_000, 5);
const OTHER = Buffer.alloc(600_000, 6);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

before(async () => {
  hub = await FakeHub.start();
  hub.add('org/w', {
    files: { 'config.json': '{"layers": 2}', 'big.bin': BIG, 'README.md': 'skip me' },
    lfs: ['big.bin'],
  });
  hub.add('org/vol', { files: { 'tok.txt': 'tokenizer' }, private: true });
  hub.add('org/c', { files: { 'one.bin': Buffer.alloc(300_000, 1), 'two.txt': 'two' }, lfs: ['one.bin'] });
  // Content of its own: the same content under another name would come from the cache.
  hub.add('org/r', { files: { 'big.bin': OTHER }, lfs: ['big.bin'] });
  files = createServer((req, res) => {
    fileRequests.push(req.url!);
    if (req.url === '/info.txt') return void res.end('external data');
    res.writeHead(404).end('no such file');
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  process.env.HF_ENDPOINT = hub.url;
  platform = await startPlatform();
  const secret = await platform.api('PUT', '/v1/secrets/hf_access_token', { value: hub.token });
  assert.equal(secret.status, 200, JSON.stringify(secret.body));
});
after(async () => {
  await platform?.stop();
  files?.closeAllConnections();
  files?.close();
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

// Reads every file in load() (after Truss's block_until_download_complete) and answers them.
const MODEL = `import hashlib, os

class Model:
    def __init__(self, **kwargs):
        self._data_dir = kwargs["data_dir"]
        self._lazy_data_resolver = kwargs["lazy_data_resolver"]

    def load(self):
        self._lazy_data_resolver.block_until_download_complete()
        app = self._data_dir.parent
        self.found = {
            "weights": (app / "models/w/config.json").read_text(),
            "big": hashlib.sha256((app / "models/w/big.bin").read_bytes()).hexdigest(),
            "readme": (app / "models/w/README.md").exists(),
            "cache": (app / "model_cache/vol/tok.txt").read_text(),
            "data": (self._data_dir / "ext/info.txt").read_text(),
        }

    def predict(self, model_input):
        return self.found
`;

function modelDir(name: string, config: string, model = MODEL): string {
  return writeTree(join(work, name), {
    'config.yaml': `model_name: ${name}\n${config}`,
    'model/model.py': model,
  });
}

const FULL = () =>
  [
    'weights:',
    '  - source: hf://org/w@main',
    '    mount_location: /app/models/w',
    '    ignore_patterns: ["*.md"]',
    'model_cache:',
    '  - repo_id: org/vol',
    '    use_volume: true',
    '    volume_folder: vol',
    'external_data:',
    `  - url: ${filesUrl}/info.txt`,
    '    local_data_path: ext/info.txt',
    '',
  ].join('\n');

async function predict(model: string): Promise<unknown> {
  const res = await fetch(`${platform.url}/models/${model}/environments/production/predict`, {
    method: 'POST',
    body: '{}',
  });
  assert.equal(res.status, 200);
  return res.json();
}

const EXPECTED = {
  weights: '{"layers": 2}',
  big: sha(BIG),
  readme: false,
  cache: 'tokenizer',
  data: 'external data',
};

test('weights, model_cache and external_data land where the model reads them; a second deployment and a second replica download nothing', async () => {
  const first = await pushed(platform, modelDir('weights-a', FULL()));
  assert.deepEqual(await predict(first.model_id), EXPECTED);
  assert.equal(hub.downloadsOf('org/w', 'big.bin').length, 1);
  assert.equal(hub.downloadsOf('org/w', 'config.json').length, 1);
  assert.equal(hub.downloadsOf('org/w', 'README.md').length, 0);
  assert.equal(hub.downloadsOf('org/vol', 'tok.txt')[0]?.authorization, `Bearer ${hub.token}`);
  assert.deepEqual(fileRequests, ['/info.txt']);
  const logs = await platform.cli(['logs', '--model', 'weights-a', '--deployment', first.deployment_id]);
  assert.match(logs.stdout, /downloading weights\[0\] \(hf:\/\/org\/w@main\): 0\/2 files/);
  assert.match(
    logs.stdout,
    /weights\[0\] \(hf:\/\/org\/w@main\): 2 files .* in models\/w; 2 downloaded, 0 from the cache/,
  );
  assert.doesNotMatch(logs.stdout, new RegExp(hub.token));

  const downloads = hub.downloads.length;
  const second = await pushed(platform, modelDir('weights-b', FULL()));
  assert.deepEqual(await predict(second.model_id), EXPECTED);
  assert.equal(hub.downloads.length, downloads, 'a second deployment downloads nothing');
  assert.deepEqual(fileRequests, ['/info.txt']);

  const scaled = await platform.api('PATCH', `/v1/models/weights-a/deployments/${first.deployment_id}`, {
    autoscaling_settings: { min_replica: 2, max_replica: 2 },
  });
  assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
  await until(
    'two replicas',
    () =>
      platform.api<{ active_replica_count: number }>(
        'GET',
        `/v1/models/weights-a/deployments/${first.deployment_id}`,
      ),
    (r) => r.body.active_replica_count === 2,
    60_000,
    250,
  );
  assert.deepEqual(await predict(first.model_id), EXPECTED);
  assert.equal(hub.downloads.length, downloads, 'a second replica downloads nothing');
  assert.deepEqual(fileRequests, ['/info.txt']);
});

test('two builds at once fetch each file once', async () => {
  const config = 'model_cache:\n  - repo_id: org/c\n    use_volume: true\n    volume_folder: c\n';
  const model = `class Model:
    def __init__(self, **kwargs):
        self._app = kwargs["data_dir"].parent

    def predict(self, model_input):
        return {"one": (self._app / "model_cache/c/one.bin").stat().st_size, "two": (self._app / "model_cache/c/two.txt").read_text()}
`;
  // The first build's download of one.bin is held half-way, so the second build asks while it runs.
  const release = hub.hold('org/c', 'one.bin');
  const both = Promise.all([
    pushed(platform, modelDir('weights-x', config, model)),
    pushed(platform, modelDir('weights-y', config, model)),
  ]);
  await until(
    'the first download',
    async () => hub.downloadsOf('org/c', 'one.bin').length,
    (n) => n >= 1,
    60_000,
  );
  await new Promise((r) => setTimeout(r, 1500));
  release();
  const [x, y] = await both;
  for (const m of [x, y]) assert.deepEqual(await predict(m.model_id), { one: 300_000, two: 'two' });
  assert.equal(hub.downloadsOf('org/c', 'one.bin').length, 1);
  assert.equal(hub.downloadsOf('org/c', 'two.txt').length, 1);
});

test('a download cut off mid-body resumes from where it stopped, and the file is whole', async () => {
  hub.cutOnce('org/r', 'big.bin', 200_000);
  const model = `import hashlib

class Model:
    def __init__(self, **kwargs):
        self._app = kwargs["data_dir"].parent

    def predict(self, model_input):
        return {"sha256": hashlib.sha256((self._app / "w/big.bin").read_bytes()).hexdigest()}
`;
  // Pushed as a user would (text output): the push shows the download.
  const dir = modelDir(
    'weights-resume',
    'weights:\n  - source: hf://org/r\n    mount_location: /app/w\n',
    model,
  );
  const push = await platform.cli(['push', dir]);
  assert.equal(push.code, 0, push.stdout + push.stderr);
  assert.match(
    push.stderr,
    /→ weights\[0\] \(hf:\/\/org\/r\): 1 file \(585\.9 KiB\) in w; 1 downloaded, 0 from the cache/,
  );
  assert.deepEqual(await predict('weights-resume'), { sha256: sha(OTHER) });
  const tries = hub.downloadsOf('org/r', 'big.bin');
  assert.equal(tries.length, 2);
  assert.equal(tries[0]!.range, null);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(tries[1]!.range ?? '')?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= 200_000, `resumed with ${tries[1]!.range}`);
});

test('a 404 fails the build naming the file, the URL and the status (CLI, status reason, events)', async () => {
  const dir = modelDir(
    'weights-404',
    `external_data:\n  - url: ${filesUrl}/missing.bin\n    local_data_path: missing.bin\n`,
  );
  const r = await platform.cli(['push', dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const reason = `external_data[0] (${filesUrl}/missing.bin): GET ${filesUrl}/missing.bin answered HTTP 404`;
  assert.ok(r.stderr.includes(`BUILD_FAILED: ${reason}`), r.stderr);
  const list = await platform.api<{ deployments: { id: string; status: string }[] }>(
    'GET',
    '/v1/models/weights-404/deployments',
  );
  const d = list.body.deployments[0]!;
  assert.equal(d.status, 'BUILD_FAILED');
  const events = await platform.api<{ events: { to: string; reason: string }[] }>(
    'GET',
    `/v1/models/weights-404/deployments/${d.id}/events`,
  );
  assert.ok(
    events.body.events.some((e) => e.to === 'BUILD_FAILED' && e.reason.includes(reason)),
    JSON.stringify(events.body),
  );
});

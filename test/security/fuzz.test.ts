// Security (issue 19): a seeded fuzz run against the real server. Hostile config.yaml files,
// bundles, API and inference request bodies and raw request heads are sent one after another,
// while /healthz is polled and the server's memory sampled. Whatever is sent, the server never
// answers 500, keeps answering /healthz, and stays within a memory bound. The same seed sends
// the same inputs: a failure names the seed and the case (PLINTH_FUZZ_SEED, PLINTH_FUZZ_CASES).
//
// /healthz latency is measured and printed, not asserted to the millisecond (a shared machine is
// noisy): the test fails only on a stall a user would call one (HEALTHZ_STALL_MS).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { packDirectory } from '../../src/bundle/pack.ts';
import { random } from '../support/fuzz.ts';
import type { Random } from '../support/fuzz.ts';
import { residentBytes } from '../support/proc-memory.ts';
import { pushBundle } from '../support/push-bundle.ts';
import { scratchDir } from '../support/scratch.ts';
import { rawTar, rawTarball } from '../support/tar.ts';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from '../e2e/harness.ts';
import type { Platform } from '../e2e/harness.ts';

const SEED = Number(process.env.PLINTH_FUZZ_SEED ?? 19);
const CASES = Number(process.env.PLINTH_FUZZ_CASES ?? 40);
const MiB = 1024 ** 2;
/** What the server may grow by over the whole run: far under what one hostile input took before (a gzip bomb: 2.3 GiB), above what V8 and malloc keep of honest bursts (~250–320 MiB seen). */
const MEMORY_GROWTH_BOUND = 640 * MiB;
/** A /healthz answer slower than this is a stall (measured figures are printed). */
const HEALTHZ_STALL_MS = 2000;

let platform: Platform;
const scratch = scratchDir('security-fuzz');
const ECHO =
  'export class Model { predict(input) { return { size: JSON.stringify(input ?? null).length }; } }\n';

/** /healthz polled every 50 ms and the server's RSS sampled, for the whole run. */
const watch = { latencies: [] as number[], failures: [] as string[], baseRss: 0, peakRss: 0 };
/** What was being sent when: the slowest /healthz and the peak RSS of each kind of input. */
let current = 'start';
const byKind = new Map<string, { slowestMs: number; peakRss: number }>();
function kind(): { slowestMs: number; peakRss: number } {
  let k = byKind.get(current);
  if (!k) byKind.set(current, (k = { slowestMs: 0, peakRss: 0 }));
  return k;
}
let watching: NodeJS.Timeout | undefined;

before(async () => {
  platform = await startPlatform();
  const dir = writeTree(`${scratch}/echo`, {
    'config.yaml': 'model_name: fuzz-echo\n',
    'model/model.js': ECHO,
  });
  const pushed = await platform.cli(['push', dir]);
  assert.equal(pushed.code, 0, pushed.stderr);
  watch.baseRss = residentBytes(platform.pid);
  watch.peakRss = watch.baseRss;
  let probing = false;
  watching = setInterval(() => {
    const rss = residentBytes(platform.pid);
    watch.peakRss = Math.max(watch.peakRss, rss);
    kind().peakRss = Math.max(kind().peakRss, rss);
    if (probing) return;
    probing = true;
    const t0 = performance.now();
    const during = kind();
    fetch(`${platform.url}/healthz`, { signal: AbortSignal.timeout(10_000) })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status !== 200) watch.failures.push(`/healthz answered ${res.status}`);
        const ms = performance.now() - t0;
        watch.latencies.push(ms);
        during.slowestMs = Math.max(during.slowestMs, ms);
      })
      .catch((err: Error) => watch.failures.push(`/healthz: ${err.message}`))
      .finally(() => (probing = false));
  }, 50);
});
after(async () => {
  clearInterval(watching);
  await platform?.stop();
});

/** Sends case after case; each must answer below 500 (a refusal is fine, a failure is not). */
async function fuzz(
  what: string,
  send: (r: Random, n: number) => Promise<{ status: number; detail?: string }>,
): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  // One sequence per kind of input: case n is the n-th draw of the seed's sequence.
  const r = random(SEED);
  for (let n = 0; n < CASES; n++) {
    current = `${what} ${n}`;
    const { status, detail } = await send(r, n);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    assert.ok(status < 500, `${what}, seed ${SEED} case ${n}: answered ${status} ${detail ?? ''}`);
  }
  console.log(`# ${what}: ${[...statuses].map(([s, c]) => `${s}×${c}`).join(', ')}`);
  return statuses;
}

// ---- config.yaml --------------------------------------------------------------------------

const CONFIG_KEYS = [
  'model_name',
  'resources',
  'runtime',
  'autoscaling',
  'secrets',
  'environment_variables',
  'model_class_name',
  'data_dir',
  'model_metadata',
  'external_package_dirs',
];

function hostileConfig(r: Random): string {
  switch (r.int(7)) {
    case 0: // a document of known keys with any values
      return stringify(
        Object.fromEntries(CONFIG_KEYS.filter(() => r.next() < 0.4).map((k) => [k, r.value()])),
      );
    case 1: // any text at all
      return r.string(2000);
    case 2: // too big
      return `model_name: big\nmodel_metadata:\n  blob: "${'x'.repeat(300 * 1024)}"\n`;
    case 3: // too many keys
      return `model_metadata:\n${Array.from({ length: 12_000 }, (_, i) => `  k${i}: ${i}`).join('\n')}\n`;
    case 4: {
      // aliases that multiply (a billion laughs)
      const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
      for (let i = 1; i < 12; i++)
        lines.push(
          `a${i}: &a${i} [${Array(9)
            .fill(`*a${i - 1}`)
            .join(', ')}]`,
        );
      return [...lines, 'model_metadata: *a11'].join('\n');
    }
    case 5: // deep nesting
      return `model_metadata: ${'['.repeat(20_000 + r.int(20_000))}${']'.repeat(r.int(2) * 20_000)}\n`;
    default: // a valid config with one field made wrong
      return stringify({
        model_name: r.pick(['ok', '', 'a'.repeat(300), '../x', 'my model', 'モデル']),
        resources: r.pick([
          { cpu: r.value(0), memory: r.value(0) },
          { accelerator: r.string(20) },
          r.value(),
        ]),
        runtime: { predict_concurrency: r.pick([0, -1, 1e9, 'x', 1.5]) },
      });
  }
}

test('config.yaml: no hostile config gets a 500, and a refusal says so in a 4xx', async () => {
  await fuzz('config.yaml', async (r, n) => {
    const dir = writeTree(`${scratch}/config-${n}`, {
      'config.yaml': hostileConfig(r),
      'model/model.js': ECHO,
    });
    const { bytes, sha256 } = await packDirectory(dir);
    const out = await pushBundle(platform.url, platform.apiKey, 'fuzz-config', bytes, sha256);
    // Accepted (a hostile config can also be a valid one): it goes again, so as not to pile up replicas.
    if (out.status < 300 && out.body.id)
      await platform.api('DELETE', `/v1/models/fuzz-config/deployments/${out.body.id}`);
    return { status: out.status, detail: JSON.stringify(out.body) };
  });
});

// ---- bundles -----------------------------------------------------------------------------

async function hostileBundle(r: Random, n: number): Promise<Buffer> {
  const honest = await packDirectory(
    writeTree(`${scratch}/bundle-${n}`, { 'config.yaml': 'model_name: b\n', 'model/model.js': ECHO }),
  );
  switch (r.int(6)) {
    case 0: {
      // an honest bundle with bytes flipped
      const bytes = Buffer.from(honest.bytes);
      for (let i = 0; i < 1 + r.int(8); i++) bytes[r.int(bytes.length)] = r.int(256);
      return bytes;
    }
    case 1: // cut short
      return honest.bytes.subarray(0, r.int(honest.bytes.length));
    case 2: // not gzip at all
      return Buffer.from(r.string(4000));
    case 3: // entries no packer writes: escapes, links out, devices, absurd sizes and modes
      return rawTarball([
        { path: 'config.yaml', body: 'model_name: b\n' },
        { path: 'model/model.js', body: ECHO },
        ...Array.from({ length: 1 + r.int(6) }, () => ({
          path: r.pick([
            '../../etc/x',
            '/abs/path',
            'model/model.js',
            'config.yaml',
            'a/'.repeat(60),
            r.string(90),
          ]),
          type: r.pick([
            'File',
            'Link',
            'SymbolicLink',
            'CharacterDevice',
            'Directory',
            'FIFO',
            'ContiguousFile',
          ]),
          mode: r.pick([0o644, 0o4777, 0o7777, 0]),
          size: r.pick([0, 10, 8 ** 11 - 1]),
          linkpath: r.pick(['/etc/shadow', '../../..', 'model/model.js', 'config.yaml', '']),
        })),
      ]);
    case 4: // many tiny files: an honest model at the file-count limit, or past it
      return rawTarball([
        { path: 'config.yaml', body: 'model_name: b\n' },
        { path: 'model/model.js', body: ECHO },
        ...Array.from({ length: r.pick([19_990, 20_001]) }, (_, i) => ({ path: `data/f${i}`, body: 'x' })),
      ]);
    default: // a file that declares more than it holds
      return gzipSync(rawTar([{ path: 'model/model.js', size: 10 * MiB, body: ECHO }]).subarray(0, 1024));
  }
}

test('bundles: no hostile bundle gets a 500', async () => {
  await fuzz('bundles', async (r, n) => {
    const bytes = await hostileBundle(r, n);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const out = await pushBundle(platform.url, platform.apiKey, 'fuzz-bundle', bytes, sha256);
    if (out.status < 300 && out.body.id)
      await platform.api('DELETE', `/v1/models/fuzz-bundle/deployments/${out.body.id}`);
    return { status: out.status, detail: JSON.stringify(out.body) };
  });
});

// ---- request bodies ----------------------------------------------------------------------

const API_WRITES: [string, string][] = [
  ['POST', '/v1/models/fuzz-echo/environments'],
  ['PATCH', '/v1/models/fuzz-echo/environments/production'],
  ['PATCH', '/v1/models/fuzz-echo/deployments/{d}/autoscaling_settings'],
  ['PATCH', '/v1/models/fuzz-echo/deployments/{d}'],
  ['POST', '/v1/models/fuzz-echo/deployments/{d}/promote'],
  ['POST', '/v1/api_keys'],
  ['PUT', '/v1/secrets/fuzz'],
  ['POST', '/v1/models/fuzz-echo/deployments'],
];

function hostileBody(r: Random): string | Buffer {
  switch (r.int(5)) {
    case 0:
      return JSON.stringify(r.value(4));
    case 1:
      return r.string(500);
    case 2:
      return Buffer.from(Array.from({ length: r.int(2000) }, () => r.int(256)));
    case 3:
      return '['.repeat(50_000 + r.int(50_000));
    default:
      return JSON.stringify({ text: 'x'.repeat(r.int(4 * MiB)) });
  }
}

test('request bodies: no hostile body to the API or to a model gets a 500', async () => {
  const listed = await platform.api<{ deployments: { id: string }[] }>(
    'GET',
    '/v1/models/fuzz-echo/deployments',
  );
  const deployment = listed.body.deployments[0]!.id;
  await fuzz('request bodies', async (r) => {
    const toModel = r.next() < 0.5;
    const [method, path] = toModel
      ? ['POST', '/models/fuzz-echo/production/predict']
      : r.pick(API_WRITES).map((p) => p.replace('{d}', deployment));
    const body = hostileBody(r);
    const res = await fetch(`${platform.url}${path}`, {
      method,
      headers: {
        authorization: `Api-Key ${platform.apiKey}`,
        'content-type': r.pick([
          'application/json',
          'text/plain',
          'application/octet-stream',
          'x/y; charset=z',
        ]),
      },
      body,
    });
    const text = await res.text();
    return { status: res.status, detail: `${method} ${path}: ${text.slice(0, 200)}` };
  });
});

// ---- request heads -----------------------------------------------------------------------

const TOKEN = 'abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&*+.^`|~';

/** One request written byte for byte on a socket; resolves with the status it got (0: none, closed). */
function rawRequest(head: string, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(platform.port, '127.0.0.1');
    let got = '';
    const done = (status: number): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    // A request the server waits on (a body it was promised) is cut by the client here.
    const timer = setTimeout(() => done(0), 3000);
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      // The final status: past any 100 Continue.
      const m = /^(?:HTTP\/1\.[01] 1\d\d [^\r]*\r\n\r\n)*HTTP\/1\.[01] ([2-5]\d\d)/.exec(got);
      if (m) done(Number(m[1]));
    });
    socket.on('error', () => done(0));
    socket.on('close', () => done(0));
    socket.write(head);
    socket.end(body);
  });
}

function hostileHead(r: Random): { head: string; body: Buffer } {
  const body = Buffer.from(JSON.stringify({ text: r.string(200) }));
  const lines = [
    `${r.pick(['POST', 'GET', 'PUT', 'OPTIONS', 'BREW', 'POST'])} ${r.pick([
      '/models/fuzz-echo/production/predict',
      '/production/predict',
      '/v1/models',
      '/healthz',
      `/${r.string(30, TOKEN)}`,
      '/models/fuzz-echo/production/predict?x=' + 'y'.repeat(r.int(20_000)),
    ])} HTTP/1.1`,
    `Host: ${r.pick(['127.0.0.1', 'model-fuzz-echo.localhost', 'model-x.evil.com', '', r.string(40, TOKEN)])}`,
    `Authorization: Api-Key ${r.pick([platform.apiKey, r.string(40, TOKEN), ''])}`,
  ];
  for (let i = 0; i < r.int(12); i++) {
    switch (r.int(6)) {
      case 0:
        lines.push(
          `Content-Length: ${r.pick([String(body.length), '0', '-1', '99999999999', 'abc', `${body.length}, 3`])}`,
        );
        break;
      case 1:
        lines.push(`Transfer-Encoding: ${r.pick(['chunked', 'gzip', 'chunked, identity', 'x'])}`);
        break;
      case 2:
        lines.push(`Expect: ${r.pick(['100-continue', 'nothing', ''])}`);
        break;
      case 3:
        lines.push(`${r.string(20, TOKEN) || 'x'}: ${r.string(200, TOKEN + ' \t"=;,')}`);
        break;
      case 4:
        lines.push(`X-Big: ${'v'.repeat(r.int(40_000))}`);
        break;
      default:
        lines.push(
          `${r.pick(['Connection', 'X-Request-Id', 'X-Plinth-Replica-Token', 'Accept'])}: ${r.string(60, TOKEN)}`,
        );
    }
  }
  if (r.next() < 0.3) for (let i = 0; i < 500; i++) lines.push(`x-many-${i}: ${i}`);
  return { head: `${lines.join('\r\n')}\r\n\r\n`, body: r.next() < 0.2 ? Buffer.from(r.string(300)) : body };
}

test('request heads: no hostile request line or header gets a 500', async () => {
  await fuzz('request heads', async (r) => {
    const { head, body } = hostileHead(r);
    return { status: await rawRequest(head, body), detail: head.slice(0, 300) };
  });
});

test('through all of it /healthz answered and memory stayed bounded', () => {
  const sorted = [...watch.latencies].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  console.log(
    `# /healthz: ${sorted.length} probes, p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, ` +
      `max ${at(1).toFixed(1)} ms, over 100 ms: ${sorted.filter((ms) => ms > 100).length}`,
  );
  console.log(
    `# server RSS: ${(watch.baseRss / MiB).toFixed(0)} MiB at the start, peak ${(watch.peakRss / MiB).toFixed(0)} MiB`,
  );
  const worst = [...byKind].sort((a, b) => b[1].slowestMs - a[1].slowestMs).slice(0, 5);
  console.log(
    `# slowest /healthz during: ${worst.map(([k, v]) => `${k} ${v.slowestMs.toFixed(0)} ms`).join(', ')}`,
  );
  const fattest = [...byKind].sort((a, b) => b[1].peakRss - a[1].peakRss).slice(0, 5);
  console.log(
    `# peak RSS during: ${fattest.map(([k, v]) => `${k} ${(v.peakRss / MiB).toFixed(0)} MiB`).join(', ')}`,
  );
  assert.deepEqual(watch.failures, []);
  assert.ok(sorted.length > 0, 'no /healthz probe finished');
  assert.ok(at(1) < HEALTHZ_STALL_MS, `/healthz stalled for ${at(1).toFixed(0)} ms`);
  assert.ok(
    watch.peakRss - watch.baseRss < MEMORY_GROWTH_BOUND,
    `the server grew by ${((watch.peakRss - watch.baseRss) / MiB).toFixed(0)} MiB`,
  );
});

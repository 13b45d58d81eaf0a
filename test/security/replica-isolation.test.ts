// Security suite (issue 19): a replica cannot read the server's home outside its own app directory
// and prepared environment. Real models — one TypeScript, one Python — are pushed that try to read
// the admin key (`credentials.json`), the secret key, the database, another deployment's app
// directory and another replica's output file, and answer with what each attempt got. Every one
// must be refused, while the model's own app and data directories stay readable (not writable: it
// writes to its own HOME); the start-up
// lines say how replicas are isolated. The home and the files in it are closed to other users.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestContext } from 'node:test';
import { writeTree } from '../support/write-tree.ts';
import { startPlatform } from '../e2e/harness.ts';
import type { Platform } from '../e2e/harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-sec-iso-'));
let victim: { model_id: string; deployment_id: string };
let victimReplica = '';

/** What a probe got for each path: `ok` (and what it read) or the error code. */
type Attempts = Record<string, { ok: boolean; code?: string; sample?: string }>;

const TS_PROBE = `import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
export class Model {
  constructor(ctx) { this.dataDir = ctx.dataDir; }
  predict(input) {
    const out = {};
    const paths = [...input.paths, process.cwd(), this.dataDir + '/note.txt'];
    for (const p of paths) {
      try {
        const sample = statSync(p).isDirectory() ? readdirSync(p).join(',') : readFileSync(p, 'utf8');
        out[p] = { ok: true, sample: sample.slice(0, 40) };
      } catch (err) {
        out[p] = { ok: false, code: err.code };
      }
    }
    const writes = {};
    for (const [what, p] of [['app', process.cwd() + '/written'], ['home', process.env.HOME + '/written']]) {
      try { writeFileSync(p, 'x'); writes[what] = 'ok'; } catch (err) { writes[what] = err.code; }
    }
    return { attempts: out, writes, appDir: process.cwd(), dataDir: this.dataDir };
  }
}
`;

const PY_PROBE = `import os


class Model:
    def __init__(self, data_dir, **kwargs):
        self.data_dir = str(data_dir)

    def predict(self, model_input):
        out = {}
        paths = list(model_input["paths"]) + [os.getcwd(), os.path.join(self.data_dir, "note.txt")]
        for p in paths:
            try:
                if os.path.isdir(p):
                    sample = ",".join(os.listdir(p))
                else:
                    with open(p, errors="replace") as f:
                        sample = f.read()
                out[p] = {"ok": True, "sample": sample[:40]}
            except OSError as e:
                out[p] = {"ok": False, "code": {13: "EACCES", 2: "ENOENT", 1: "EPERM"}.get(e.errno, str(e.errno))}
        writes = {}
        for what, p in (("app", os.path.join(os.getcwd(), "written")), ("home", os.path.join(os.environ["HOME"], "written"))):
            try:
                with open(p, "w") as f:
                    f.write("x")
                writes[what] = "ok"
            except OSError as e:
                writes[what] = {13: "EACCES", 30: "EROFS"}.get(e.errno, str(e.errno))
        return {"attempts": out, "writes": writes, "appDir": os.getcwd(), "dataDir": self.data_dir}
`;

async function push(dir: string): Promise<{ model_id: string; deployment_id: string }> {
  const r = await platform.cli(['push', dir, '--output', 'json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as { model_id: string; deployment_id: string };
}

before(async () => {
  platform = await startPlatform();
  victim = await push(
    writeTree(join(scratch, 'victim'), {
      'config.yaml': 'model_name: victim\n',
      'model/model.ts':
        'export class Model { predict() { console.log("victim says hi"); return { ok: true }; } }\n',
    }),
  );
  const res = await fetch(`${platform.url}/models/${victim.model_id}/production/predict`, {
    method: 'POST',
    body: '{}',
  });
  assert.equal(res.status, 200);
  const replicas = await platform.api<{ replicas: { id: string }[] }>(
    'GET',
    `/v1/models/${victim.model_id}/deployments/${victim.deployment_id}/replicas`,
  );
  victimReplica = replicas.body.replicas[0]!.id;
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** The start-up line that says how replicas are isolated (part of "Enforced: …"). */
function isolationLine(): string {
  return /^Enforced: .*$/m.exec(platform.output())?.[0] ?? '';
}

function isolated(): boolean {
  return !/replicas are NOT isolated/.test(isolationLine());
}

test('the start-up lines name how replicas are isolated', () => {
  const line = isolationLine();
  assert.match(line, /replicas (are isolated|are NOT isolated)/, platform.output());
  if (process.getuid?.() === 0 && isolated())
    assert.match(line, /run as their own unprivileged user/, 'as root, replicas run as another user');
  if (!isolated()) assert.match(line, /a deploy key is as strong as an admin key here/);
});

function forbidden(): Record<string, string> {
  const home = platform.home;
  return {
    'the admin key': join(home, 'credentials.json'),
    'the secret key': join(home, 'secret.key'),
    'the database': join(home, 'plinth.db'),
    "another deployment's app directory": join(home, 'deployments', victim.deployment_id, 'app'),
    "another deployment's model file": join(
      home,
      'deployments',
      victim.deployment_id,
      'app',
      'model',
      'model.ts',
    ),
    "another replica's output": join(home, 'run', 'replicas', `${victimReplica}.out`),
    'the home': join(home, 'bundles'),
  };
}

async function probe(t: TestContext, dir: string, files: Record<string, string>): Promise<void> {
  if (!isolated()) return t.skip(`replicas are not isolated on this machine: ${isolationLine()}`);
  const { model_id, deployment_id } = await push(writeTree(dir, files));
  const paths = forbidden();
  const res = await fetch(`${platform.url}/models/${model_id}/production/predict`, {
    method: 'POST',
    body: JSON.stringify({ paths: Object.values(paths) }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const { attempts, writes, appDir, dataDir } = (await res.json()) as {
    attempts: Attempts;
    writes: { app: string; home: string };
    appDir: string;
    dataDir: string;
  };
  for (const [what, path] of Object.entries(paths)) {
    const got = attempts[path]!;
    assert.equal(got.ok, false, `${what} (${path}) was readable: ${JSON.stringify(got)}`);
    assert.match(got.code ?? '', /^(ENOENT|EACCES|EPERM)$/, `${what}: ${JSON.stringify(got)}`);
  }
  assert.equal(appDir, join(platform.home, 'deployments', deployment_id, 'app'));
  assert.equal(attempts[appDir]!.ok, true, `its own app directory: ${JSON.stringify(attempts[appDir])}`);
  assert.match(attempts[appDir]!.sample!, /model/);
  assert.deepEqual(attempts[join(dataDir, 'note.txt')], { ok: true, sample: 'the model may read this\n' });
  // Its code is read-only to it (another replica of it, or the next patch, reads the same files);
  // its own home (HOME) is where it writes.
  assert.match(writes.app, /^(EROFS|EACCES)$/, `it wrote into its app directory: ${writes.app}`);
  assert.equal(writes.home, 'ok');
}

test('a TypeScript model reads its own app and data directories, and nothing else of the home', async (t) => {
  await probe(t, join(scratch, 'ts-probe'), {
    'config.yaml': 'model_name: ts-probe\n',
    'model/model.js': TS_PROBE,
    'data/note.txt': 'the model may read this\n',
  });
});

test('a Python model reads its own app and data directories, and nothing else of the home', async (t) => {
  await probe(t, join(scratch, 'py-probe'), {
    'config.yaml': 'model_name: py-probe\n',
    'model/model.py': PY_PROBE,
    'data/note.txt': 'the model may read this\n',
  });
});

/** A POST head that promises 100 MiB and sends none of it; the status it gets (0: none within 5 s). */
function headOnly(address: string): Promise<number> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve) => {
    const socket = connect(port, host);
    let got = '';
    const timer = setTimeout(() => done(0), 5000);
    const done = (status: number): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) done(Number(m[1]));
    });
    socket.on('error', () => done(0));
    socket.write(
      `POST /v1/models/model:predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${100 * 1024 ** 2}\r\n\r\n`,
    );
  });
}

/** Calls a replica straight at its address, as anyone on the machine could, with the headers given. */
async function callDirectly(address: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`http://${address}/v1/models/model:predict`, {
    method: 'POST',
    headers,
    body: '{}',
  });
  await res.arrayBuffer();
  return res.status;
}

for (const language of ['TypeScript', 'Python']) {
  test(`a ${language} replica answers only the gateway: without its token, or with a wrong one, 401`, async () => {
    let model = victim;
    if (language === 'Python')
      model = await push(
        writeTree(join(scratch, 'py-token'), {
          'config.yaml': 'model_name: py-token\n',
          'model/model.py':
            'class Model:\n    def predict(self, model_input):\n        return {"ok": True}\n',
        }),
      );
    const viaGateway = await fetch(`${platform.url}/models/${model.model_id}/production/predict`, {
      method: 'POST',
      // A token the caller makes up is not passed on.
      headers: { 'x-plinth-replica-token': 'made-up' },
      body: '{}',
    });
    assert.equal(viaGateway.status, 200, await viaGateway.text());
    const listed = await platform.api<{ replicas: Record<string, unknown>[] }>(
      'GET',
      `/v1/models/${model.model_id}/deployments/${model.deployment_id}/replicas`,
    );
    const replica = listed.body.replicas[0]!;
    assert.ok(!JSON.stringify(listed.body).includes('token'), 'the API never shows a replica token');
    const address = replica.address as string;
    assert.equal(await callDirectly(address, {}), 401);
    assert.equal(await callDirectly(address, { 'x-plinth-replica-token': 'made-up' }), 401);
    // Refused on its head alone: a body it was promised is never waited for, nor read.
    assert.equal(await headOnly(address), 401);
    // Its liveness and readiness stay open (probes carry no token); they tell nothing.
    assert.equal((await fetch(`http://${address}/v1/models/model`)).status, 200);
  });
}

test('the home is closed to other users: the home 0700 (0711 where replicas must cross it), its files 0600', () => {
  const mode = (p: string): number => statSync(p).mode & 0o777;
  const home = platform.home;
  assert.ok([0o700, 0o711].includes(mode(home)), `home is ${mode(home).toString(8)}`);
  for (const file of ['credentials.json', 'secret.key', 'plinth.db'])
    assert.equal(mode(join(home, file)), 0o600, `${file} is ${mode(join(home, file)).toString(8)}`);
  const run = join(home, 'run', 'replicas');
  const outputs = readdirSync(run).filter((f) => /\.(out|err)$/.test(f));
  assert.ok(outputs.length > 0);
  for (const f of outputs)
    assert.equal(mode(join(run, f)), 0o600, `${f} is ${mode(join(run, f)).toString(8)}`);
});

// Live reload: time from saving an edit to the first answer from the new code, while `plinth push
// --watch` runs, median of N edits, for a TypeScript and a Python model; minus the model's own
// import and load() time as the new replica reports it (the platform's share). Baseline in the
// same run: a plain `plinth push` of the same directory to ACTIVE (what an edit costs without
// --watch). Run: node --import tsx bench/dev-reload.ts [--edits 10]
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, startBenchPlatform } from './platform.ts';

const editsArg = process.argv.indexOf('--edits');
const edits = editsArg === -1 ? 10 : Number(process.argv[editsArg + 1]);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const models = [
  {
    label: 'TypeScript',
    name: 'bench-dev-ts',
    file: 'model/model.ts',
    code: (n: number) => `export class Model {\n  predict() {\n    return { version: ${n} };\n  }\n}\n`,
  },
  {
    label: 'Python',
    name: 'bench-dev-py',
    file: 'model/model.py',
    code: (n: number) =>
      `class Model:\n    def predict(self, model_input):\n        return {"version": ${n}}\n`,
  },
];

const platform = await startBenchPlatform();
const scratch = mkdtempSync(join(tmpdir(), 'plinth-bench-dev-'));
const env = { ...process.env, PLINTH_URL: platform.url, PLINTH_API_KEY: platform.apiKey };
try {
  const rows: string[] = [];
  for (const m of models) {
    const dir = join(scratch, m.name);
    mkdirSync(join(dir, 'model'), { recursive: true });
    writeFileSync(join(dir, 'config.yaml'), `model_name: ${m.name}\n`);
    writeFileSync(join(dir, m.file), m.code(0));
    const pushes = [1, 2, 3].map(() => platform.push(dir).wallMs);

    const watch = spawn(process.execPath, [BIN, 'push', '--watch', dir], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    watch.stdout.on('data', (c: Buffer) => (out += c.toString()));
    watch.stderr.on('data', (c: Buffer) => (out += c.toString()));
    while (!out.includes('Watching')) await sleep(50);
    const url = `${platform.url}/models/${m.name}/development/predict`;
    const version = async () =>
      (
        (await (await fetch(url, { method: 'POST', body: '{}', headers: platform.auth })).json()) as {
          version?: number;
        }
      ).version;
    const total: number[] = [];
    const own: number[] = [];
    for (let n = 1; n <= edits; n++) {
      await sleep(300);
      const t0 = performance.now();
      writeFileSync(join(dir, m.file), m.code(n));
      while ((await version()) !== n) await sleep(5);
      total.push(performance.now() - t0);
      const logs = await platform.api<{ logs: { message: string }[] }>(
        `/v1/models/${m.name}/deployments/development/logs?search=model%20loaded&limit=10000`,
      );
      const loaded = /import ([\d.]+) ms, load\(\) ([\d.]+) ms/.exec(logs.logs.at(-1)!.message)!;
      own.push(Number(loaded[1]) + Number(loaded[2]));
    }
    watch.kill('SIGINT');
    const share = total.map((t, i) => t - own[i]!);
    rows.push(
      `${m.label.padEnd(10)} | ${median(total).toFixed(0).padStart(10)} ms | ${median(own).toFixed(0).padStart(9)} ms | ${median(share).toFixed(0).padStart(8)} ms | ${Math.max(
        ...share,
      )
        .toFixed(0)
        .padStart(8)} ms | ${median(pushes).toFixed(0).padStart(10)} ms`,
    );
  }
  console.log(
    `# edit → first answer from the new code, ${edits} edits each (median; worst of the platform share)`,
  );
  console.log('model      | edit→answer   | model own    | platform   | worst      | plain push→ACTIVE');
  for (const r of rows) console.log(r);
} finally {
  await platform.stop();
  rmSync(scratch, { recursive: true, force: true });
}

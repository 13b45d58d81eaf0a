// Losing the control plane under steady load. (a) Two `plinth up` on one PostgreSQL store; the
// leader is SIGKILLed while a client calls through the follower: how long until the follower leads,
// the longest a request waited, how many failed. (b) Baseline in the same run: one `plinth up` on
// SQLite, SIGKILLed and started again at once on the same home and port (the replica is adopted):
// how long until it answers again, how many requests failed.
// Usage: node --import tsx bench/handover.ts [--runs 3]   (PostgreSQL: scripts/postgres-for-tests.sh)
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '../test/support/postgres-database.ts';
import { writeTree } from '../test/support/write-tree.ts';
import { startPlatform } from '../test/e2e/harness.ts';
import type { Platform } from '../test/e2e/harness.ts';
import { freePort } from '../test/support/free-port.ts';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 3) || 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const MODEL = {
  'config.yaml': 'model_name: steady\n',
  'model/model.ts':
    'export class Model {\n  async predict() {\n    await new Promise((r) => setTimeout(r, 20));\n    return { ok: true };\n  }\n}\n',
};

interface Outcome {
  at: number;
  ok: boolean;
}

/** One client calling without pause until stopped; each answer's time and success. */
function client(url: () => string, apiKey: string) {
  const outcomes: Outcome[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const res = await fetch(`${url()}/models/steady/production/predict`, {
          method: 'POST',
          body: '{}',
          headers: { authorization: `Api-Key ${apiKey}` },
        });
        await res.arrayBuffer();
        outcomes.push({ at: Date.now(), ok: res.status === 200 });
      } catch {
        outcomes.push({ at: Date.now(), ok: false });
        await sleep(20);
      }
    }
  })();
  return {
    outcomes,
    stop: async () => {
      running = false;
      await loop;
      return outcomes;
    },
  };
}

function longestGap(outcomes: Outcome[], from: number): number {
  const oks = outcomes.filter((o) => o.ok).map((o) => o.at);
  let last = oks.filter((t) => t <= from).at(-1) ?? from;
  let gap = 0;
  for (const t of oks.filter((t) => t > from)) {
    gap = Math.max(gap, t - last);
    last = t;
  }
  return gap;
}

async function failover(): Promise<{ leadMs: number; gapMs: number; failed: number }> {
  const scratch = mkdtempSync(join(tmpdir(), 'plinth-bench-handover-'));
  const database = await createTestDatabase();
  const store = ['--store', database.url];
  const home = join(scratch, 'home');
  const leader = await startPlatform(home, store);
  const follower = await startPlatform(home, store);
  try {
    const dir = writeTree(join(scratch, 'steady'), MODEL);
    if ((await follower.cli(['push', dir])).code !== 0) throw new Error('push failed');
    const c = client(() => follower.url, follower.apiKey);
    await sleep(2000);
    const killedAt = Date.now();
    await leader.crash();
    while (!/Leading the control plane now/.test(follower.output())) await sleep(10);
    const leadMs = Date.now() - killedAt;
    await sleep(3000);
    const outcomes = (await c.stop()).filter((o) => o.at > killedAt - 1000);
    return { leadMs, gapMs: longestGap(outcomes, killedAt), failed: outcomes.filter((o) => !o.ok).length };
  } finally {
    await follower.stop({ keepHome: true });
    await leader.stop({ keepHome: true });
    await database.drop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function restart(): Promise<{ backMs: number; gapMs: number; failed: number }> {
  const scratch = mkdtempSync(join(tmpdir(), 'plinth-bench-restart-'));
  const home = join(scratch, 'home');
  const port = ['--port', String(await freePort())];
  let platform: Platform = await startPlatform(home, port);
  try {
    const dir = writeTree(join(scratch, 'steady'), MODEL);
    if ((await platform.cli(['push', dir])).code !== 0) throw new Error('push failed');
    const c = client(() => platform.url, platform.apiKey);
    await sleep(2000);
    const killedAt = Date.now();
    await platform.crash();
    platform = await startPlatform(home, port);
    while (!c.outcomes.some((o) => o.ok && o.at > killedAt)) await sleep(5);
    const backMs = c.outcomes.find((o) => o.ok && o.at > killedAt)!.at - killedAt;
    await sleep(3000);
    const outcomes = (await c.stop()).filter((o) => o.at > killedAt - 1000);
    return { backMs, gapMs: longestGap(outcomes, killedAt), failed: outcomes.filter((o) => !o.ok).length };
  } finally {
    await platform.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

const a: Awaited<ReturnType<typeof failover>>[] = [];
const b: Awaited<ReturnType<typeof restart>>[] = [];
for (let i = 0; i < runs; i++) {
  a.push(await failover());
  b.push(await restart());
}
console.log(
  `# control plane lost under steady load (one client, 20 ms predict), ${runs} runs, median [each]`,
);
console.log(
  `failover, 2 control planes on PostgreSQL: follower leads after ${median(a.map((r) => r.leadMs))} ms ` +
    `[${a.map((r) => r.leadMs).join(', ')}]; longest wait for an answer ${median(a.map((r) => r.gapMs))} ms ` +
    `[${a.map((r) => r.gapMs).join(', ')}]; failed requests ${a.map((r) => r.failed).join(', ')}`,
);
console.log(
  `baseline, 1 control plane on SQLite restarted at once: answers again after ${median(b.map((r) => r.backMs))} ms ` +
    `[${b.map((r) => r.backMs).join(', ')}]; longest wait ${median(b.map((r) => r.gapMs))} ms; ` +
    `failed requests ${b.map((r) => r.failed).join(', ')}`,
);
process.exit(0);

// Custom-server overhead: examples/custom-server (FastAPI + uvicorn) called directly at its own
// port and through the Plinth gateway's `…/sync/` route, in the same run: p50/p99 and requests/s
// at concurrency 1 and 16 (wrk, POST /predict), and the time to the first streamed token of a chat
// completion (fetch, sequential, median of --streams).
//   Run: npm run bench:custom-server [-- --duration 5 --streams 40]
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ensureTool, REPO, startBenchPlatform } from './platform.ts';
import { runWrk } from './wrk.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
};
const durationS = Number(arg('--duration', '5'));
const streams = Number(arg('--streams', '40'));
const wrk = ensureTool('wrk', 'wrk');
const BODY = '{"prompt": "the river", "max_tokens": 8}';

/** Milliseconds from sending a streamed chat completion to its first token. */
async function firstToken(url: string, headers: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      model: 'tiny-markov',
      messages: [{ role: 'user', content: 'the river' }],
      max_tokens: 16,
      stream: true,
    }),
  });
  const decoder = new TextDecoder();
  let seen = '';
  let at = NaN;
  for await (const chunk of res.body!) {
    seen += decoder.decode(chunk as Uint8Array, { stream: true });
    if (Number.isNaN(at) && /"content":\s*"[^"]+/.test(seen)) at = performance.now() - t0;
  }
  return at;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const platform = await startBenchPlatform();
try {
  const { json } = platform.push(join(REPO, 'examples', 'custom-server'));
  const replicas = await platform.api<{ replicas: { address: string }[] }>(
    `/v1/models/${json.model_id}/deployments/${json.deployment_id}/replicas`,
  );
  const direct = `http://${replicas.replicas[0]!.address}`;
  const gateway = `${platform.url}/models/${json.model_id}/environments/production/sync`;
  const auth = { authorization: `Api-Key ${platform.apiKey}` };
  console.log(
    `# custom-server benchmark: ${durationS}s per run, ${availableParallelism()} CPUs, node ${process.version}`,
  );
  console.log('  c | target  |   req/s | p50 ms  | p99 ms  | +p50 ms | of direct | errors');
  for (const connections of [1, 16]) {
    const d = runWrk(wrk, `${direct}/predict`, connections, durationS, [], BODY);
    const g = runWrk(
      wrk,
      `${gateway}/predict`,
      connections,
      durationS,
      [`Authorization: ${auth.authorization}`],
      BODY,
    );
    for (const [name, r] of [
      ['direct', d],
      ['gateway', g],
    ] as const) {
      console.log(
        [
          String(connections).padStart(3),
          name.padEnd(7),
          r.rps.toFixed(0).padStart(7),
          r.p50Ms.toFixed(3).padStart(7),
          r.p99Ms.toFixed(3).padStart(7),
          name === 'direct' ? '      -' : (r.p50Ms - d.p50Ms).toFixed(3).padStart(7),
          `${((r.rps / d.rps) * 100).toFixed(0).padStart(8)}%`,
          String(r.errors),
        ].join(' | '),
      );
    }
  }
  const ttft = { direct: [] as number[], gateway: [] as number[] };
  for (let i = 0; i < streams; i++) {
    ttft.direct.push(await firstToken(`${direct}/v1/chat/completions`, {}));
    ttft.gateway.push(await firstToken(`${gateway}/v1/chat/completions`, auth));
  }
  const [td, tg] = [median(ttft.direct), median(ttft.gateway)];
  console.log(
    `time to first streamed token (median of ${streams}): direct ${td.toFixed(2)} ms, ` +
      `gateway ${tg.toFixed(2)} ms, added ${(tg - td).toFixed(2)} ms`,
  );
} finally {
  await platform.stop();
}

// Runs wrk against a URL with a JSON POST body and parses requests/s and latency percentiles.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const scripts = new Map<string, string>();
const scriptDir = mkdtempSync(join(tmpdir(), 'plinth-wrk-'));

/** A wrk script that POSTs `body` as JSON. */
function postScript(body: string): string {
  let script = scripts.get(body);
  if (!script) {
    script = join(scriptDir, `post-${scripts.size}.lua`);
    writeFileSync(
      script,
      `wrk.method = "POST"\nwrk.body = '${body}'\nwrk.headers["Content-Type"] = "application/json"\n`,
    );
    scripts.set(body, script);
  }
  return script;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

export function runWrk(
  wrk: string,
  url: string,
  connections: number,
  durationS: number,
  headers: string[] = [],
  body = '{"text": "benchmark payload"}',
): WrkResult {
  const threads = Math.min(2, connections);
  const args = [
    '-t',
    String(threads),
    '-c',
    String(connections),
    '-d',
    `${durationS}s`,
    '--latency',
    '-s',
    postScript(body),
  ];
  for (const h of headers) args.push('-H', h);
  const r = spawnSync(wrk, [...args, url], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const pct = (p: string): number => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  if (!(rps > 0)) process.stderr.write(`wrk ${args.join(' ')} ${url}:\n${out}\n`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  return { rps, p50Ms: pct('50'), p99Ms: pct('99'), errors };
}

// Open-loop clients: each sends at a fixed rate whatever the answers (bounded in concurrency:
// a send due while the client has its maximum in flight is counted as not sent), only to
// 127.0.0.1, and records every request's fate. Steady clients read at once; slow readers ask for
// a padded answer and read it in pauses; hang-up clients give up on some requests mid-way (their
// outcome is not a failure).
import { request, Agent } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { makeRng } from './rng.ts';
import type { Rng } from './rng.ts';
import type { RequestRecord } from './records.ts';
import type { Target } from './world.ts';

export type ClientKind = 'steady' | 'slow-reader' | 'hang-up';

export interface ClientSpec {
  name: string;
  kind: ClientKind;
  model: string;
  target: Target;
  ratePerS: number;
}

export interface LoadOptions {
  apiKey: () => string;
  /** No request is sent after it (Date.now() ms), whatever happens. */
  deadlineMs: number;
  timeoutMs: number;
  maxInFlight: number;
  seed: number;
}

export interface Load {
  records: RequestRecord[];
  /** Sends that were due while the client had its maximum in flight. */
  notSent: () => number;
  inFlight: () => number;
  /** Stops sending and waits for what is in flight (each ends by its timeout). */
  stop(): Promise<void>;
}

const SLOW_PAD_BYTES = 192 * 1024;

export function startLoad(specs: readonly ClientSpec[], options: LoadOptions): Load {
  const records: RequestRecord[] = [];
  let stopping = false;
  let notSent = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const loops = specs.map(async (spec, i) => {
    const rng = makeRng(options.seed * 1000 + i);
    const agent = new Agent({ keepAlive: true, maxSockets: options.maxInFlight });
    const periodMs = 1000 / spec.ratePerS;
    const t0 = Date.now() + rng.int(Math.ceil(periodMs));
    let mine = 0;
    for (let n = 0; ; n++) {
      const due = t0 + n * periodMs;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (stopping || Date.now() >= options.deadlineMs) break;
      if (mine >= options.maxInFlight) {
        notSent++;
        continue;
      }
      mine++;
      inFlight++;
      const sent = send(spec, agent, rng, options).then((record) => {
        records.push(record);
        mine--;
        inFlight--;
      });
      pending.add(sent);
      void sent.finally(() => pending.delete(sent));
    }
    await Promise.all([...pending]);
    agent.destroy();
  });
  return {
    records,
    notSent: () => notSent,
    inFlight: () => inFlight,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      await Promise.all([...pending]);
    },
  };
}

function send(spec: ClientSpec, agent: Agent, rng: Rng, options: LoadOptions): Promise<RequestRecord> {
  const proc = spec.target.process();
  const startMs = Date.now();
  const record: RequestRecord = {
    client: spec.name,
    target: spec.target.name,
    process: proc?.role ?? 'none',
    model: spec.model,
    startMs,
    endMs: startMs,
    outcome: 'failed',
    status: 0,
    errorClass: '',
    version: null,
  };
  const body = spec.kind === 'slow-reader' ? JSON.stringify({ pad: SLOW_PAD_BYTES }) : '{}';
  const hangUpAfterMs = spec.kind === 'hang-up' && rng.chance(0.5) ? rng.between(5, 60) : null;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (patch: Partial<RequestRecord>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (hangUp) clearTimeout(hangUp);
      Object.assign(record, { endMs: Date.now() }, patch);
      resolve(record);
    };
    const fail = (errorClass: string, status = record.status): void =>
      finish({ outcome: 'failed', errorClass, status });
    if (!proc) return fail('no-process');
    const req: ClientRequest = request({
      host: '127.0.0.1',
      port: proc.port,
      path: `/models/${spec.model}/production/predict`,
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        authorization: `Api-Key ${options.apiKey()}`,
      },
    });
    const timer = setTimeout(() => {
      fail('timeout');
      req.destroy();
    }, options.timeoutMs);
    const hangUp =
      hangUpAfterMs === null
        ? null
        : setTimeout(() => {
            finish({ outcome: 'hung-up', errorClass: '' });
            req.destroy();
          }, hangUpAfterMs);
    req.on('error', (err) => fail(errorClassOf(err)));
    req.on('response', (res: IncomingMessage) => {
      record.status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (spec.kind === 'slow-reader') {
          res.pause();
          setTimeout(() => res.resume(), 40);
        }
      });
      res.on('error', () => fail('truncated'));
      res.on('close', () => {
        if (!res.complete) fail('truncated');
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: { version?: unknown; error?: { code?: string; message?: string } } = {};
        try {
          parsed = JSON.parse(text) as typeof parsed;
        } catch {
          // judged below
        }
        if (record.status === 200 && typeof parsed.version === 'number')
          return finish({ outcome: 'ok', version: parsed.version });
        if (record.status === 200) return fail('bad-body');
        if (typeof parsed.error?.message === 'string') record.message = parsed.error.message.slice(0, 500);
        fail(`http-${record.status}${parsed.error?.code ? ` ${parsed.error.code}` : ''}`);
      });
    });
    req.end(body);
  });
}

function errorClassOf(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || err.message === 'socket hang up') return 'reset';
  return `error ${code ?? err.message}`;
}

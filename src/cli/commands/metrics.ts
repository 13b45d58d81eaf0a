// `plinth metrics`: a deployment's or an environment's request rate by status class, latency
// percentiles, replicas, concurrency and cost over a range, one row per step (`--mode series`);
// the totals of the range (`--mode summary`); or the values now (`--mode current`).
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
import { modelRef } from '../model-dir.ts';
import { printJson, printTable } from '../output.ts';

interface MetricsOptions {
  model?: string;
  deployment?: string;
  environment?: string;
  since: string;
  until?: string;
  step?: string;
  mode: string;
  output?: string;
}

const MODES = ['series', 'summary', 'current'];

type Latency = { mean?: number | null; p50: number | null; p90: number | null; p99: number | null };

interface Summary {
  since: string;
  until: string;
  requests_total: number;
  requests: Record<'2xx' | '3xx' | '4xx' | '5xx', number>;
  error_rate: number | null;
  requests_per_second: number;
  latency_seconds: Latency;
  cold_starts: number;
  replica_seconds_total: number;
  cost: number | null;
}

interface Current {
  requests_in_flight: number;
  requests_queued: number;
  replicas_active: number;
  replicas_starting: number;
  window_seconds: number;
  requests: Record<'2xx' | '3xx' | '4xx' | '5xx', number>;
  requests_per_second: number;
  latency_seconds: Latency;
  error_rate: number | null;
}

interface Point {
  time: string;
  requests: Record<'2xx' | '3xx' | '4xx' | '5xx', number>;
  requests_per_second: number;
  latency_seconds: { p50: number | null; p95: number | null; p99: number | null };
  concurrency_avg: number;
  replicas_active: number;
  replicas_starting: number;
  cold_starts: number;
  cost: number | null;
}

const ms = (s: number | null): string => (s === null ? '-' : `${(s * 1000).toFixed(s < 0.1 ? 1 : 0)}`);
const percent = (r: number | null): string => (r === null ? '-' : `${(r * 100).toFixed(1)}%`);
const byClass = (r: Record<string, number>): string =>
  `2xx ${r['2xx']}, 3xx ${r['3xx']}, 4xx ${r['4xx']}, 5xx ${r['5xx']}`;
const latencies = (l: Latency): string =>
  `${l.mean !== undefined ? `mean ${ms(l.mean)}, ` : ''}p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, p99 ${ms(l.p99)} ms`;

function printSummary(s: Summary): void {
  printTable(
    ['METRIC', 'VALUE'],
    [
      ['range', `${s.since} – ${s.until}`],
      ['requests', `${s.requests_total} (${byClass(s.requests)})`],
      ['requests/s', s.requests_per_second.toFixed(3)],
      ['error rate', percent(s.error_rate)],
      ['latency', latencies(s.latency_seconds)],
      ['cold starts', String(s.cold_starts)],
      ['replica-seconds', String(s.replica_seconds_total)],
      ['cost $', s.cost === null ? '-' : s.cost.toFixed(4)],
    ],
  );
}

function printCurrent(c: Current): void {
  printTable(
    ['METRIC', 'VALUE'],
    [
      ['in flight', String(c.requests_in_flight)],
      ['queued', String(c.requests_queued)],
      ['replicas', `${c.replicas_active} active, ${c.replicas_starting} starting`],
      [`requests (last ${Math.round(c.window_seconds)} s)`, byClass(c.requests)],
      ['requests/s', c.requests_per_second.toFixed(3)],
      ['error rate', percent(c.error_rate)],
      ['latency', latencies(c.latency_seconds)],
    ],
  );
}

export function registerMetrics(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('metrics')
    .description("Show a deployment's or an environment's metrics over time")
    .argument('[dir]', 'a model directory (names the model)')
    .option('--model <model>', 'model id or name')
    .option('--deployment <id>', 'deployment id or name')
    .option('--environment <name>', 'environment (default: production)')
    .option('--since <when>', 'start of the range (10m, 2h, 1d or an ISO time)', '1h')
    .option('--until <when>', 'end of the range (default: now)')
    .option('--step <seconds>', 'seconds per row (default: about 120 rows)')
    .option(
      '--mode <mode>',
      'series (a row per step), summary (totals of the range) or current (now, and the last minute)',
      'series',
    )
    .option('--output <format>', 'text or json', 'text')
    .action((dir: string | undefined, options: MetricsOptions) =>
      run(async () => {
        if (options.deployment && options.environment)
          throw new UserError('pass only one of --deployment and --environment');
        if (!MODES.includes(options.mode))
          throw new UserError(`--mode ${options.mode}: expected one of ${MODES.join(', ')}`);
        const client = new ApiClient(resolveConnection());
        const model = encodeURIComponent(modelRef(options.model, dir));
        const target = options.deployment
          ? `deployments/${encodeURIComponent(options.deployment)}`
          : `environments/${encodeURIComponent(options.environment ?? 'production')}`;
        const qs = new URLSearchParams({ since: options.since });
        if (options.until) qs.set('until', options.until);
        if (options.step) qs.set('step', options.step);
        if (options.mode !== 'series') qs.set('mode', options.mode);
        const result = await client.request<{ step: number; points: Point[] } & Summary & Current>(
          'GET',
          `/v1/models/${model}/${target}/metrics?${qs}`,
        );
        if (options.output === 'json') return printJson(result);
        if (options.mode === 'summary') return printSummary(result);
        if (options.mode === 'current') return printCurrent(result);
        printTable(
          [
            'TIME',
            'REQ/S',
            '2XX',
            '4XX',
            '5XX',
            'P50 MS',
            'P95 MS',
            'P99 MS',
            'CONC',
            'REPLICAS',
            'COLD',
            'COST $',
          ],
          result.points.map((p) => [
            p.time.slice(11, 19),
            p.requests_per_second.toFixed(2),
            String(p.requests['2xx']),
            String(p.requests['4xx']),
            String(p.requests['5xx']),
            ms(p.latency_seconds.p50),
            ms(p.latency_seconds.p95),
            ms(p.latency_seconds.p99),
            p.concurrency_avg.toFixed(1),
            `${p.replicas_active.toFixed(1)}${p.replicas_starting ? ` (+${p.replicas_starting.toFixed(1)})` : ''}`,
            String(p.cold_starts),
            p.cost === null ? '-' : p.cost.toFixed(4),
          ]),
        );
      }, options.output === 'json'),
    );
}

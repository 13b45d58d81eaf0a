// `plinth metrics`: a deployment's or an environment's request rate by status class, latency
// percentiles, replicas, concurrency and cost over a range, one row per step.
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
  output?: string;
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
    .option('--output <format>', 'text or json', 'text')
    .action((dir: string | undefined, options: MetricsOptions) =>
      run(async () => {
        if (options.deployment && options.environment)
          throw new UserError('pass only one of --deployment and --environment');
        const client = new ApiClient(resolveConnection());
        const model = encodeURIComponent(modelRef(options.model, dir));
        const target = options.deployment
          ? `deployments/${encodeURIComponent(options.deployment)}`
          : `environments/${encodeURIComponent(options.environment ?? 'production')}`;
        const qs = new URLSearchParams({ since: options.since });
        if (options.until) qs.set('until', options.until);
        if (options.step) qs.set('step', options.step);
        const result = await client.request<{ step: number; points: Point[] }>(
          'GET',
          `/v1/models/${model}/${target}/metrics?${qs}`,
        );
        if (options.output === 'json') return printJson(result);
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

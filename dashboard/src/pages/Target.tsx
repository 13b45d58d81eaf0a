// A deployment's or an environment's page: live charts (requests/s by status class, latency
// percentiles, replicas and concurrency) over a chosen range, events, logs and a playground.
import { useMemo, useState } from 'react';
import { api } from '../api.ts';
import type { Deployment, Environment } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { LogView } from '../components/LogView.tsx';
import { ChatBox } from '../components/ChatBox.tsx';
import { Playground } from '../components/Playground.tsx';
import { NotYet, useLive } from '../live.tsx';

interface Point {
  time: string;
  requests: Record<'2xx' | '3xx' | '4xx' | '5xx', number>;
  latency_seconds: { p50: number | null; p95: number | null; p99: number | null };
  concurrency_avg: number;
  replicas_active: number;
  replicas_starting: number;
}

const RANGES = [
  ['15m', 10],
  ['1h', 30],
  ['6h', 300],
  ['1d', 600],
  ['7d', 3600],
] as const;

interface TargetData {
  deployment: Deployment | null;
  environment: Environment | null;
  events: { time: string; from: string | null; to: string; reason: string }[];
  points: Point[];
  step: number;
  /** The async requests of the deployment shown: queued and in progress. */
  queue: { num_queued_requests: number; num_in_progress_requests: number } | null;
}

type Queue = NonNullable<TargetData['queue']>;

export function TargetPage({
  model,
  kind,
  name,
}: {
  model: string;
  kind: 'deployments' | 'environments';
  name: string;
}) {
  const [range, setRange] = useState<(typeof RANGES)[number]>(RANGES[0]);
  const m = encodeURIComponent(model);
  const base = `/v1/models/${m}/${kind}/${encodeURIComponent(name)}`;
  const { data, error } = useLive<TargetData>(
    async () => {
      const metrics = await api<{ points: Point[]; step: number }>(
        'GET',
        `${base}/metrics?since=${range[0]}&step=${range[1]}`,
      );
      const queueOf = (id: string | undefined) =>
        id ? api<Queue>('GET', `/v1/models/${m}/deployments/${encodeURIComponent(id)}/async_queue`) : null;
      if (kind === 'deployments') {
        const deployment = await api<Deployment>('GET', base);
        const { events } = await api<{ events: TargetData['events'] }>('GET', `${base}/events`);
        // The metrics answer names its target too: it goes first so that it overrides nothing.
        return { ...metrics, deployment, environment: null, events, queue: await queueOf(deployment.id) };
      }
      const environment = await api<Environment>('GET', base);
      const deployment = environment.current_deployment;
      return { ...metrics, deployment, environment, events: [], queue: await queueOf(deployment?.id) };
    },
    model,
    [base, range],
  );
  const charts = useMemo(() => {
    const points = data?.points ?? [];
    const times = points.map((p) => Date.parse(p.time) / 1000);
    const perSecond = (k: keyof Point['requests']) => points.map((p) => p.requests[k] / (data?.step ?? 1));
    const ms = (k: 'p50' | 'p95' | 'p99') =>
      points.map((p) => (p.latency_seconds[k] === null ? null : p.latency_seconds[k]! * 1000));
    return {
      times,
      requests: [
        { label: '2xx', values: perSecond('2xx'), color: '#2a9d5c' },
        { label: '4xx', values: perSecond('4xx'), color: '#d9a21b' },
        { label: '5xx', values: perSecond('5xx'), color: '#d1495b' },
      ],
      latency: [
        { label: 'p50', values: ms('p50'), color: '#3b6fd8' },
        { label: 'p95', values: ms('p95'), color: '#8a5cd1' },
        { label: 'p99', values: ms('p99'), color: '#d1495b' },
      ],
      replicas: [
        { label: 'active', values: points.map((p) => p.replicas_active), color: '#2a9d5c' },
        { label: 'starting', values: points.map((p) => p.replicas_starting), color: '#d9a21b' },
        { label: 'concurrency', values: points.map((p) => p.concurrency_avg), color: '#3b6fd8' },
      ],
    };
  }, [data]);
  if (error || !data) return <NotYet error={error} />;
  const d = data.deployment;
  const predictPath = data.environment
    ? `/models/${m}/environments/${encodeURIComponent(data.environment.name)}/predict`
    : d?.is_development
      ? `/models/${m}/development/predict`
      : `/models/${m}/deployment/${d?.id}/predict`;
  return (
    <section>
      <p>
        <a href={`#/models/${m}`}>← {model}</a>
      </p>
      <h1>
        {kind === 'environments' ? `${name} environment` : d?.name}{' '}
        {d && <span className={`status ${d.status}`}>{d.status}</span>}
      </h1>
      {d && (
        <p>
          {d.name} ({d.id}) · {d.instance_type_name} · {d.active_replica_count} ready
          {d.status_reason ? ` · ${d.status_reason}` : ''}
        </p>
      )}
      {data.queue && (
        <p data-testid="async-queue">
          async queue: {data.queue.num_queued_requests} queued · {data.queue.num_in_progress_requests} in
          progress
        </p>
      )}
      <div className="range" role="group" aria-label="time range">
        {RANGES.map((r) => (
          <button key={r[0]} aria-pressed={r === range} onClick={() => setRange(r)}>
            {r[0]}
          </button>
        ))}
      </div>
      <div className="charts">
        <Chart title="Requests/s by status" unit="req/s" times={charts.times} lines={charts.requests} />
        <Chart title="Latency" unit="ms" times={charts.times} lines={charts.latency} />
        <Chart title="Replicas and concurrency" unit="count" times={charts.times} lines={charts.replicas} />
      </div>
      <Playground url={predictPath} />
      <ChatBox
        syncUrl={`/models/${m}/${kind === 'environments' ? 'environments' : 'deployment'}/${encodeURIComponent(name)}/sync`}
      />
      {data.environment?.promotions && data.environment.promotions.length > 0 && (
        <section aria-label="promotion history">
          <h2>Promotions</h2>
          <ul className="events">
            {data.environment.promotions.map((p) => (
              <li key={p.id}>
                {new Date(p.started_at).toLocaleString()} → {p.to_deployment_id}: {p.status}
                {p.reason ? ` (${p.reason})` : ''}
                {' · '}
                {p.actions
                  .map(
                    (a) =>
                      `${a.action.replace(/_/g, ' ')} by ${a.by} at ${new Date(a.at).toLocaleTimeString()}`,
                  )
                  .join('; ')}
              </li>
            ))}
          </ul>
        </section>
      )}
      {data.events.length > 0 && (
        <section aria-label="events">
          <h2>Events</h2>
          <ul className="events">
            {data.events
              .slice()
              .reverse()
              .map((e, i) => (
                <li key={i}>
                  {new Date(e.time).toLocaleTimeString()} {e.from ?? '—'} → {e.to}: {e.reason}
                </li>
              ))}
          </ul>
        </section>
      )}
      {d && <LogView model={model} deployment={d.id} />}
    </section>
  );
}

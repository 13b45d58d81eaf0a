// A deployment's logs, live: the newest matching lines, then each new one as it is stored
// (follow=true, server-sent events); filters by level, replica, request id and text.
import { useEffect, useState } from 'react';
import { follow } from '../api.ts';

interface LogLine {
  id: number;
  time: string;
  level: string;
  source: string;
  replica: string | null;
  request_id: string | null;
  message: string;
}

export function LogView({ model, deployment }: { model: string; deployment: string }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [level, setLevel] = useState('');
  const [search, setSearch] = useState('');
  const [requestId, setRequestId] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setLines([]);
    const qs = new URLSearchParams({ follow: 'true', limit: '200' });
    if (level) qs.set('level', level);
    if (search) qs.set('search', search);
    if (requestId) qs.set('request_id', requestId);
    const controller = new AbortController();
    const path = `/v1/models/${encodeURIComponent(model)}/deployments/${encodeURIComponent(deployment)}/logs?${qs}`;
    follow(
      path,
      (data) => setLines((ls) => [...ls.slice(-999), JSON.parse(data) as LogLine]),
      controller.signal,
    ).catch((e: Error) => {
      if (e.name !== 'AbortError') setError(e.message);
    });
    return () => controller.abort();
  }, [model, deployment, level, search, requestId]);
  return (
    <section aria-label="logs">
      <h2>Logs</h2>
      <div className="filters">
        <label>
          Level
          <select value={level} onChange={(e) => setLevel(e.target.value)}>
            <option value="">all</option>
            <option>INFO</option>
            <option>WARNING</option>
            <option>ERROR</option>
          </select>
        </label>
        <label>
          Search <input value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        <label>
          Request id <input value={requestId} onChange={(e) => setRequestId(e.target.value)} />
        </label>
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <pre className="logs" data-testid="logs">
        {lines.map((l) => (
          <div key={l.id} className={`log ${l.level}`}>
            {l.time.slice(11, 23)} {l.level.padEnd(7)} {l.source}
            {l.replica ? `/${l.replica}` : ''} {l.request_id ? `[${l.request_id}] ` : ''}
            {l.message}
          </div>
        ))}
      </pre>
    </section>
  );
}

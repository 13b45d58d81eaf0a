// All models, a page at a time ("Load more" adds the next): each with its environments, what they
// serve and its status, and traffic at a glance.
import { useState } from 'react';
import { api } from '../api.ts';
import type { Environment, ModelSummary } from '../api.ts';
import { NotYet, useLive } from '../live.tsx';

/** Models per page. */
const PAGE = 50;

interface Row {
  model: ModelSummary;
  environments: Environment[];
  rps: number;
}

async function row(model: ModelSummary): Promise<Row> {
  const m = encodeURIComponent(model.id);
  const { environments } = await api<{ environments: Environment[] }>('GET', `/v1/models/${m}/environments`);
  const metrics = await api<{ points: { requests_per_second: number }[] }>(
    'GET',
    `/v1/models/${m}/environments/production/metrics?since=5m&step=300`,
  ).catch(() => ({ points: [] }));
  return { model, environments, rps: metrics.points.at(-1)?.requests_per_second ?? 0 };
}

/** The first `pages` pages of models (read again on each change), and whether there are more. */
async function load(pages: number): Promise<{ rows: Row[]; more: boolean }> {
  const models: ModelSummary[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < pages; i++) {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page: { models: ModelSummary[]; next_cursor: string | null } = await api(
      'GET',
      `/v1/models?limit=${PAGE}${query}`,
    );
    models.push(...page.models);
    cursor = page.next_cursor;
    if (cursor === null) break;
  }
  return { rows: await Promise.all(models.map(row)), more: cursor !== null };
}

export function ModelsPage() {
  const [pages, setPages] = useState(1);
  const { data, error } = useLive(() => load(pages), null, [pages]);
  if (error || !data) return <NotYet error={error} />;
  if (data.rows.length === 0)
    return (
      <section className="empty">
        <h1>No models yet</h1>
        <p>Models are created by pushing a model directory:</p>
        <pre>{'npx plinth init my-model\nnpx plinth push my-model'}</pre>
      </section>
    );
  return (
    <section>
      <h1>Models</h1>
      <table>
        <thead>
          <tr>
            <th>Model</th>
            <th>Environments</th>
            <th>Production</th>
            <th>Requests/s (5 min)</th>
          </tr>
        </thead>
        <tbody>
          {data.rows.map(({ model, environments, rps }) => {
            const production = environments.find((e) => e.name === 'production');
            return (
              <tr key={model.id}>
                <td>
                  <a href={`#/models/${encodeURIComponent(model.name)}`}>{model.name}</a>
                </td>
                <td>{environments.map((e) => e.name).join(', ')}</td>
                <td>
                  {production?.current_deployment ? (
                    <span className={`status ${production.current_deployment.status}`}>
                      {production.current_deployment.name} · {production.current_deployment.status}
                    </span>
                  ) : (
                    '—'
                  )}
                </td>
                <td>{rps.toFixed(2)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {data.more && (
        <p>
          <button onClick={() => setPages(pages + 1)}>Load more</button>
        </p>
      )}
    </section>
  );
}

// All models: each with its environments, what they serve and its status, and traffic at a glance.
import { api } from '../api.ts';
import type { Environment, ModelSummary } from '../api.ts';
import { NotYet, useLive } from '../live.tsx';

interface Row {
  model: ModelSummary;
  environments: Environment[];
  rps: number;
}

async function load(): Promise<Row[]> {
  const { models } = await api<{ models: ModelSummary[] }>('GET', '/v1/models');
  return Promise.all(
    models.map(async (model) => {
      const m = encodeURIComponent(model.id);
      const { environments } = await api<{ environments: Environment[] }>(
        'GET',
        `/v1/models/${m}/environments`,
      );
      const metrics = await api<{ points: { requests_per_second: number }[] }>(
        'GET',
        `/v1/models/${m}/environments/production/metrics?since=5m&step=300`,
      ).catch(() => ({ points: [] }));
      return { model, environments, rps: metrics.points.at(-1)?.requests_per_second ?? 0 };
    }),
  );
}

export function ModelsPage() {
  const { data, error } = useLive(load, null, []);
  if (error || !data) return <NotYet error={error} />;
  if (data.length === 0)
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
          {data.map(({ model, environments, rps }) => {
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
    </section>
  );
}

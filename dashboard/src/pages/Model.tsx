// One model: a card per environment (what it serves, status, replicas, URL and curl, a promotion
// in progress with its split and a cancel button), the deployments table with its actions, and
// the production autoscaling settings — every change through the management API.
import { canWake, isInactive } from '../../../src/domain/deployment-status.ts';
import { useState } from 'react';
import { api } from '../api.ts';
import type { Deployment, Environment, Promotion } from '../api.ts';
import { Confirm } from '../components/Confirm.tsx';
import type { PendingAction } from '../components/Confirm.tsx';
import { SettingsForm } from '../components/SettingsForm.tsx';
import { NotYet, useLive } from '../live.tsx';

interface ModelData {
  environments: Environment[];
  deployments: Deployment[];
  instanceTypes: { name: string }[];
}

function Copy({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      className="small"
      aria-label={label}
      onClick={() =>
        void navigator.clipboard?.writeText(text).then(() => {
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        })
      }
    >
      {done ? 'Copied' : 'Copy'}
    </button>
  );
}

function EnvironmentCard({
  env,
  model,
  act,
}: {
  env: Environment;
  model: string;
  act: (a: PendingAction) => void;
}) {
  const d = env.current_deployment;
  const curl = env.public
    ? `curl -X POST ${env.predict_url} -d '{}'`
    : `curl -X POST ${env.predict_url} -H "Authorization: Api-Key $PLINTH_API_KEY" -d '{}'`;
  const p = env.in_progress_promotion;
  const envPath = `/v1/models/${encodeURIComponent(model)}/environments/${encodeURIComponent(env.name)}`;
  return (
    <article className="card" data-testid={`environment-${env.name}`} aria-label={`environment ${env.name}`}>
      <h3>
        <a href={`#/models/${encodeURIComponent(model)}/environments/${encodeURIComponent(env.name)}`}>
          {env.name}
        </a>
      </h3>
      {d ? (
        <p>
          Serves <strong data-testid="serves">{d.name}</strong> ·{' '}
          <span className={`status ${d.status}`}>{d.status}</span> · {d.active_replica_count} ready
          {d.starting_replica_count ? `, ${d.starting_replica_count} starting` : ''}
        </p>
      ) : (
        <p>No deployment yet.</p>
      )}
      <p className="url">
        <code>{env.predict_url}</code> <Copy text={env.predict_url} label={`copy ${env.name} URL`} />
      </p>
      <p className="url">
        <code>{curl}</code> <Copy text={curl} label={`copy ${env.name} curl`} />
      </p>
      {p && (
        <div className="promotion" role="status">
          Promoting to {p.to_deployment_id}: {p.phase.toLowerCase().replace(/_/g, ' ')}
          {p.is_paused ? ' (paused)' : ''}, {p.traffic_percent}% of traffic{' '}
          {PROMOTION_CONTROLS.filter((c) => c.when(p)).map((c) => (
            <button
              key={c.route}
              onClick={() =>
                act({
                  title: `${c.label} the promotion of ${env.name}?`,
                  detail: c.detail,
                  run: () => api('POST', `${envPath}/${c.route}`, {}),
                })
              }
            >
              {c.label}
            </button>
          ))}
        </div>
      )}
      <p>
        {!env.is_active && <span className="status INACTIVE">inactive</span>}{' '}
        <button
          onClick={() =>
            act({
              title: `${env.is_active ? 'Deactivate' : 'Activate'} ${env.name}?`,
              detail: env.is_active
                ? 'Its URL answers ENVIRONMENT_INACTIVE and its deployment stops; settings are kept.'
                : 'Its deployment starts again and its URL answers.',
              run: () => api('POST', `${envPath}/${env.is_active ? 'deactivate' : 'activate'}`, {}),
            })
          }
        >
          {env.is_active ? 'Deactivate environment' : 'Activate environment'}
        </button>
      </p>
    </article>
  );
}

/** The controls of a promotion in progress, each shown when it applies. */
const PROMOTION_CONTROLS: {
  route: string;
  label: string;
  detail: string;
  when: (p: Promotion) => boolean;
}[] = [
  {
    route: 'pause_promotion',
    label: 'Pause',
    detail: 'Traffic and replicas hold where they are.',
    when: (p) => !p.is_paused,
  },
  {
    route: 'resume_promotion',
    label: 'Resume',
    detail: 'The promotion carries on from where it stood.',
    when: (p) => p.is_paused,
  },
  {
    route: 'cancel_promotion',
    label: 'Cancel',
    detail: 'Traffic goes back to the deployment it served before (a rolling deploy rolls back in steps).',
    when: (p) => p.phase !== 'ROLLING_BACK',
  },
  {
    route: 'force_cancel_promotion',
    label: 'Force cancel',
    detail: 'All traffic goes back at once and the candidate stops.',
    when: () => true,
  },
  {
    route: 'force_roll_forward_promotion',
    label: 'Force roll forward',
    detail: 'All traffic goes to the candidate now.',
    when: () => true,
  },
];

export function ModelPage({ model }: { model: string }) {
  const m = encodeURIComponent(model);
  const { data, error, reload } = useLive<ModelData>(
    async () => ({
      environments: (await api<{ environments: Environment[] }>('GET', `/v1/models/${m}/environments`))
        .environments,
      deployments: (await api<{ deployments: Deployment[] }>('GET', `/v1/models/${m}/deployments`))
        .deployments,
      instanceTypes: (await api<{ instance_types: { name: string }[] }>('GET', '/v1/instance_types'))
        .instance_types,
    }),
    model,
    [model],
  );
  const [pending, setPending] = useState<PendingAction | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  if (error || !data) return <NotYet error={error} />;
  const production = data.environments.find((e) => e.name === 'production');
  const post = (d: Deployment, verb: string, body?: unknown) => () =>
    api('POST', `/v1/models/${m}/deployments/${d.id}/${verb}`, body);
  return (
    <section>
      <h1>{model}</h1>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      <div className="cards">
        {data.environments.map((env) => (
          <EnvironmentCard key={env.name} env={env} model={model} act={setPending} />
        ))}
      </div>
      <h2>Deployments</h2>
      <table aria-label="deployments">
        <thead>
          <tr>
            <th>Name</th>
            <th>Id</th>
            <th>Status</th>
            <th>Instance type</th>
            <th>Replicas</th>
            <th>Created</th>
            <th>Serves</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {data.deployments.map((d) => (
            <tr key={d.id} data-testid={`deployment-${d.name}`}>
              <td>
                <a href={`#/models/${m}/deployments/${d.id}`}>{d.name}</a>
              </td>
              <td>
                <code>{d.id}</code>
              </td>
              <td>
                <span className={`status ${d.status}`} title={d.status_reason ?? ''}>
                  {d.status}
                </span>
              </td>
              <td>{d.instance_type_name}</td>
              <td>{d.active_replica_count}</td>
              <td>{new Date(d.created_at).toLocaleString()}</td>
              <td>{d.environment ?? '—'}</td>
              <td className="actions">
                {!d.is_development && d.environment !== 'production' && (
                  <button
                    onClick={() =>
                      setPending({
                        title: `Promote ${d.name} to production?`,
                        detail: `New requests move to ${d.name} once it has its replicas ready; ${production?.current_deployment?.name ?? 'the current deployment'} finishes what it is doing.`,
                        run: post(d, 'promote', {}),
                      })
                    }
                  >
                    Promote
                  </button>
                )}
                {(isInactive(d.status) || canWake(d.status)) && (
                  <button
                    onClick={() =>
                      setPending({
                        title: `Activate ${d.name}?`,
                        detail: 'Its replicas start again.',
                        run: post(d, 'activate'),
                      })
                    }
                  >
                    Activate
                  </button>
                )}
                {!isInactive(d.status) && !d.environment && (
                  <button
                    onClick={() =>
                      setPending({
                        title: `Deactivate ${d.name}?`,
                        detail: 'Its replicas drain and stop; its URL answers 404 until activated.',
                        run: post(d, 'deactivate'),
                      })
                    }
                  >
                    Deactivate
                  </button>
                )}
                {/FAILED|UNHEALTHY/.test(d.status) && (
                  <button
                    onClick={() =>
                      setPending({
                        title: `Retry ${d.name}?`,
                        detail: 'It is built or started again.',
                        run: post(d, 'retry'),
                      })
                    }
                  >
                    Retry
                  </button>
                )}
                {!d.environment && (
                  <button
                    className="danger"
                    onClick={() =>
                      setPending({
                        title: `Delete ${d.name}?`,
                        detail: 'Its replicas drain and its files are removed. This cannot be undone.',
                        run: () => api('DELETE', `/v1/models/${m}/deployments/${d.id}`),
                      })
                    }
                  >
                    Delete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {production && (
        <SettingsForm
          model={model}
          environment={production}
          instanceTypes={data.instanceTypes.map((t) => t.name)}
          onSaved={(text) => {
            setNotice(text);
            reload();
          }}
        />
      )}
      {pending && (
        <Confirm
          action={pending}
          onClose={(message) => {
            setPending(null);
            if (message) setNotice(message);
            reload();
          }}
        />
      )}
    </section>
  );
}

// An environment's autoscaling settings and instance type, checked by the API (its refusal is
// shown next to the form).
import { useState } from 'react';
import { api } from '../api.ts';
import type { Environment } from '../api.ts';

const FIELDS = [
  ['min_replica', 'Min replicas'],
  ['max_replica', 'Max replicas'],
  ['concurrency_target', 'Concurrency target'],
  ['target_utilization_percentage', 'Target utilization %'],
  ['autoscaling_window', 'Autoscaling window (s)'],
  ['scale_down_delay', 'Scale-down delay (s)'],
] as const;

export function SettingsForm({
  model,
  environment,
  instanceTypes,
  onSaved,
}: {
  model: string;
  environment: Environment;
  instanceTypes: string[];
  onSaved: (message: string) => void;
}) {
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(FIELDS.map(([k]) => [k, String(environment.autoscaling_settings[k] ?? '')])),
  );
  const [instanceType, setInstanceType] = useState(environment.current_deployment?.instance_type_name ?? '');
  const [error, setError] = useState<string | null>(null);
  const save = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    try {
      const settings = Object.fromEntries(FIELDS.map(([k]) => [k, Number(values[k])]));
      await api('PATCH', `/v1/models/${encodeURIComponent(model)}/environments/${environment.name}`, {
        autoscaling_settings: settings,
      });
      // The environment applies its settings to the deployment it serves.
      const d = environment.current_deployment;
      if (d && instanceType && instanceType !== d.instance_type_name)
        await api('PATCH', `/v1/models/${encodeURIComponent(model)}/deployments/${d.id}`, {
          instance_type_name: instanceType,
        });
      setError(null);
      onSaved(`Saved the ${environment.name} settings`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form className="settings" onSubmit={(e) => void save(e)} aria-label={`${environment.name} settings`}>
      <h2>{environment.name} settings</h2>
      <div className="grid">
        {FIELDS.map(([k, label]) => (
          <label key={k}>
            {label}
            <input
              name={k}
              inputMode="numeric"
              value={values[k]}
              onChange={(e) => setValues({ ...values, [k]: e.target.value })}
            />
          </label>
        ))}
        <label>
          Instance type
          <select name="instance_type" value={instanceType} onChange={(e) => setInstanceType(e.target.value)}>
            {instanceTypes.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <button type="submit">Save settings</button>
    </form>
  );
}

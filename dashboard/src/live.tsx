// Live data for a page: loads, then reloads whenever the model's change stream says something
// changed (server-sent events), without reloading the page.
import { useCallback, useEffect, useState } from 'react';
import { follow } from './api.ts';

export function useLive<T>(
  load: () => Promise<T>,
  model: string | null,
  deps: unknown[],
): {
  data: T | null;
  error: string | null;
  reload: () => void;
} {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    load().then(
      (d) => {
        setData(d);
        setError(null);
      },
      (e: Error) => setError(e.message),
    );
  }, deps);
  useEffect(() => {
    reload();
    const controller = new AbortController();
    const path = model ? `/v1/models/${encodeURIComponent(model)}/changes` : '/v1/changes';
    void follow(path, () => reload(), controller.signal).catch(() => undefined);
    return () => controller.abort();
  }, [reload, model]);
  return { data, error, reload };
}

/** What a page shows before its data: the error in plain words, or that it is loading. */
export function NotYet({ error }: { error: string | null }) {
  return error ? (
    <p role="alert" className="error">
      {error}
    </p>
  ) : (
    <p>Loading…</p>
  );
}

// A confirmation dialog that says what an action will do, runs it, and shows the API's refusal.
import { useState } from 'react';

export interface PendingAction {
  title: string;
  detail: string;
  run: () => Promise<unknown>;
}

export function Confirm({ action, onClose }: { action: PendingAction; onClose: (message?: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div className="backdrop">
      <div role="dialog" aria-modal="true" aria-labelledby="confirm-title" className="dialog">
        <h2 id="confirm-title">{action.title}</h2>
        <p>{action.detail}</p>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <div className="buttons">
          <button onClick={() => onClose()}>Cancel</button>
          <button
            autoFocus
            disabled={busy}
            onClick={() => {
              setBusy(true);
              action.run().then(
                () => onClose(`Done: ${action.title.replace(/\?$/, '')}`),
                (e: Error) => {
                  setBusy(false);
                  setError(e.message);
                },
              );
            }}
          >
            Confirm
          </button>
        </div>
      </div>
    </div>
  );
}

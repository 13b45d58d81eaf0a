// The dashboard shell: sign-in with an API key, a header, and hash routes
// (#/, #/models/{m}, #/models/{m}/deployments/{d}, #/models/{m}/environments/{e}).
import { useEffect, useState } from 'react';
import { api, ApiError, saveKey, savedKey } from './api.ts';
import { ModelsPage } from './pages/Models.tsx';
import { ModelPage } from './pages/Model.tsx';
import { TargetPage } from './pages/Target.tsx';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = (): void => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    try {
      await api('GET', '/v1/models', undefined, key.trim());
      saveKey(key.trim());
      onSignedIn();
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'That API key was not accepted.'
          : (err as Error).message,
      );
    }
  };
  return (
    <main className="signin">
      <h1>Plinth</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label htmlFor="api-key">API key</label>
        <input id="api-key" type="password" value={key} onChange={(e) => setKey(e.target.value)} autoFocus />
        <button type="submit">Sign in</button>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <p className="hint">
          `plinth up` printed an admin key on first start; it is also in{' '}
          <code>$PLINTH_HOME/credentials.json</code>. The key stays in this browser tab only.
        </p>
      </form>
    </main>
  );
}

export function App() {
  const [signedIn, setSignedIn] = useState(savedKey() !== null);
  const hash = useHash();
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  let page: React.ReactNode;
  if (parts[0] === 'models' && parts[1] && parts[2] === 'deployments' && parts[3])
    page = <TargetPage model={parts[1]} kind="deployments" name={parts[3]} />;
  else if (parts[0] === 'models' && parts[1] && parts[2] === 'environments' && parts[3])
    page = <TargetPage model={parts[1]} kind="environments" name={parts[3]} />;
  else if (parts[0] === 'models' && parts[1]) page = <ModelPage model={parts[1]} />;
  else page = <ModelsPage />;
  return (
    <>
      <header>
        <a href="#/" className="brand">
          Plinth
        </a>
        <nav>
          <a href="#/">Models</a>
        </nav>
        <button
          className="link"
          onClick={() => {
            saveKey(null);
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main>{page}</main>
    </>
  );
}

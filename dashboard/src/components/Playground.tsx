// Send a JSON request to a deployment or environment and see the answer, streamed ones as they
// arrive.
import { useState } from 'react';
import { savedKey } from '../api.ts';

export function Playground({ url }: { url: string }) {
  const [body, setBody] = useState('{}');
  const [answer, setAnswer] = useState('');
  const [status, setStatus] = useState<string | null>(null);
  const send = async (): Promise<void> => {
    try {
      JSON.parse(body);
    } catch {
      setStatus('The request is not valid JSON.');
      return;
    }
    setAnswer('');
    setStatus('Sending…');
    const started = performance.now();
    const res = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: `Api-Key ${savedKey() ?? ''}` },
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      setAnswer(text);
    }
    setStatus(
      `${res.status} in ${Math.round(performance.now() - started)} ms · request id ${res.headers.get('x-request-id') ?? '—'}`,
    );
  };
  return (
    <section aria-label="playground" className="playground">
      <h2>Playground</h2>
      <label htmlFor="playground-body">Request (JSON)</label>
      <textarea id="playground-body" rows={4} value={body} onChange={(e) => setBody(e.target.value)} />
      <button onClick={() => void send()}>Send</button>
      {status && <p role="status">{status}</p>}
      <pre data-testid="answer">{answer}</pre>
    </section>
  );
}

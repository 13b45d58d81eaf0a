// A chat box for models with chat routes (a custom server's OpenAI API, or a model's
// chat_completions method): the conversation goes to `…/sync/v1/chat/completions` with
// `stream: true`, and the answer's tokens appear as they arrive. A model without the route says so.
import { useState } from 'react';
import { savedKey } from '../api.ts';

interface Message {
  role: 'user' | 'assistant';
  content: string;
}

/** The text of the `data:` events in `buffer` that are complete, and what is left of it. */
function takeEvents(buffer: string): { deltas: string[]; rest: string } {
  const events = buffer.split('\n\n');
  const rest = events.pop() ?? '';
  const deltas: string[] = [];
  for (const event of events) {
    for (const line of event.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') continue;
      try {
        const parsed = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
        const piece = parsed.choices?.[0]?.delta?.content;
        if (piece) deltas.push(piece);
      } catch {
        // Not an OpenAI chunk: nothing to show.
      }
    }
  }
  return { deltas, rest };
}

export function ChatBox({ syncUrl }: { syncUrl: string }) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState('');
  const [status, setStatus] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const send = async (): Promise<void> => {
    const text = draft.trim();
    if (!text || sending) return;
    setSending(true);
    try {
      await converse(text);
    } catch (err) {
      setStatus(`The answer was cut off: ${(err as Error).message}`);
    } finally {
      setSending(false);
    }
  };
  const converse = async (text: string): Promise<void> => {
    const asked: Message[] = [...messages, { role: 'user', content: text }];
    setMessages([...asked, { role: 'assistant', content: '' }]);
    setDraft('');
    setStatus('Waiting for the first token…');
    const res = await fetch(`${syncUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Api-Key ${savedKey() ?? ''}` },
      body: JSON.stringify({ model: 'model', messages: asked, stream: true }),
    });
    if (!res.ok) {
      setMessages(asked);
      const said = (await res.text()).slice(0, 300);
      setStatus(
        res.status === 404
          ? `This model has no chat route (/v1/chat/completions): ${said}`
          : `${res.status}: ${said}`,
      );
      return;
    }
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let answer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const taken = takeEvents(buffer + decoder.decode(value, { stream: true }));
      buffer = taken.rest;
      if (taken.deltas.length === 0) continue;
      answer += taken.deltas.join('');
      setMessages([...asked, { role: 'assistant', content: answer }]);
      setStatus('Streaming…');
    }
    setStatus(null);
  };
  return (
    <section aria-label="chat" className="playground">
      <h2>Chat</h2>
      <ol className="chat">
        {messages.map((m, i) => (
          <li key={i} className={m.role} data-testid={`chat-${m.role}`}>
            {m.content}
          </li>
        ))}
      </ol>
      <label htmlFor="chat-message">Message</label>
      <textarea id="chat-message" rows={2} value={draft} onChange={(e) => setDraft(e.target.value)} />
      <button onClick={() => void send()} disabled={sending}>
        Ask
      </button>
      {status && <p role="status">{status}</p>}
    </section>
  );
}

// `plinth predict --websocket`: a WebSocket to a model's `…/websocket` URL, with the API key. Each
// line of stdin goes as a text message; each message received is printed on its own line. When
// stdin ends the connection is closed (1000) after what was sent; the messages the model sent
// before its close answer are still printed. Ends normally (resolves) on a normal close
// (1000/1005); any other close, or a refused upgrade, is a UserError/ApiError with the reason.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { apiErrorFrom } from './api-client.ts';
import { UserError } from './errors.ts';

export interface SessionOptions {
  /** The `…/websocket` URL, http(s) or ws(s). */
  url: string;
  apiKey: string;
  input: Readable;
  output: Writable;
  /** How the model is named in errors. */
  label: string;
  /** How long the connection (the upgrade, a cold start included) may take. */
  openTimeoutMs?: number;
}

export function runWebSocketSession(options: SessionOptions): Promise<void> {
  const url = options.url.replace(/^http/, 'ws');
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { authorization: `Api-Key ${options.apiKey}` },
      handshakeTimeout: options.openTimeoutMs ?? 15 * 60_000,
    });
    let refused = false;
    ws.on('unexpected-response', (_req, res) => {
      refused = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (text.length < 64 * 1024) text += c;
      });
      res.on('end', () => reject(apiErrorFrom(res.statusCode ?? 0, text, `${options.label}: `)));
      res.on('error', () =>
        reject(new UserError(`${options.label}: the upgrade was refused (${res.statusCode})`)),
      );
    });
    ws.on('error', (err) => {
      if (!refused) reject(new UserError(`cannot connect to ${url}: ${err.message}`));
    });
    ws.on('message', (data, binary) => {
      const text = binary ? Buffer.from(data as Buffer).toString('base64') : String(data);
      options.output.write(text.endsWith('\n') ? text : `${text}\n`);
    });
    ws.on('close', (code, reason) => {
      lines.close();
      if (refused) return;
      if (code === 1000 || code === 1005) return resolve();
      const why = reason.length > 0 ? `: ${String(reason)}` : '';
      reject(
        new UserError(
          code === 1006
            ? `${options.label}: the connection was lost (1006)`
            : `${options.label}: the connection closed with ${code}${why}`,
          'WEBSOCKET_CLOSED',
        ),
      );
    });
    // Lines typed (or piped) before the connection opens wait for it, in order.
    const lines = createInterface({ input: options.input, crlfDelay: Infinity, terminal: false });
    const pending: string[] = [];
    let ended = false;
    const flush = (): void => {
      if (ws.readyState !== WebSocket.OPEN) return;
      for (const line of pending.splice(0)) ws.send(line);
      if (ended) ws.close(1000, 'stdin ended');
    };
    lines.on('line', (line) => {
      pending.push(line);
      flush();
    });
    lines.on('close', () => {
      ended = true;
      flush();
    });
    ws.on('open', flush);
  });
}

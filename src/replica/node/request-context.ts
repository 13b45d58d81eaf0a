// The request a Node model is handling, for its own log lines: console output written while a
// request is in progress carries the request's id (see runtime/replica-log-mark.ts).
import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';
import { markLine } from '../../runtime/replica-log-mark.ts';

const current = new AsyncLocalStorage<string>();

export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestId ? current.run(requestId, fn) : fn();
}

/** Makes console.log/info/warn/error/debug mark each line with the current request's id. */
export function tagConsole(): void {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const id = current.getStore();
      if (!id) return original(...args);
      original(
        format(...args)
          .split('\n')
          .map((line) => markLine(id, line))
          .join('\n'),
      );
    };
  }
}

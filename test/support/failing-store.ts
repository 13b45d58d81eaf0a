// A store that fails on demand: while `down`, every call rejects as an unreachable database would.
// For tests of the loops that must ride out a store outage.
import type { Store } from '../../src/store/store.ts';

export interface FailingStore {
  store: Store;
  down: boolean;
}

export function failingStore(inner: Store): FailingStore {
  const control: FailingStore = { store: inner, down: false };
  control.store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (control.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return control;
}

/** Runs `fn`, answering the unhandled rejections it caused (an unhandled one ends a real server). */
export async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (err: unknown): void => void seen.push(err);
  process.on('unhandledRejection', listener);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

// A real store whose method calls are noted by name: how tests show that a read takes a constant
// number of store calls, however many models there are.
import type { Store } from '../../src/store/store.ts';

export interface CountingStore {
  store: Store;
  /** Store methods called since the last `reset()`, in order. */
  calls: string[];
  reset(): void;
}

export function countingStore(real: Store): CountingStore {
  const calls: string[] = [];
  const store = new Proxy(real, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls, reset: () => void calls.splice(0) };
}

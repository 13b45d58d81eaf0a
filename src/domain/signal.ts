// A typed event with listeners: how a room tells others what happened without knowing them, so the
// composition root can wire rooms after it has built them all. Listeners run synchronously, in the
// order they were added; one that throws is reported and does not stop the others.

export class Signal<T> {
  private listeners: ((value: T) => void)[] = [];

  /** Adds a listener; the returned function removes it. */
  add(listener: (value: T) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  emit(value: T): void {
    for (const listener of this.listeners) {
      try {
        listener(value);
      } catch (err) {
        console.error(`a listener failed: ${(err as Error).stack ?? String(err)}`);
      }
    }
  }
}

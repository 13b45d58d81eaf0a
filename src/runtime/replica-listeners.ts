// The listeners of a backend's replica events: `watch()` adds one, `emit()` tells each; one that
// throws is reported and does not keep the others from hearing.
import type { ReplicaEvent } from './backend.ts';

export class ReplicaListeners {
  private readonly listeners = new Set<(event: ReplicaEvent) => void>();

  add(listener: (event: ReplicaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: ReplicaEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        console.error('replica event listener failed', err);
      }
    }
  }
}

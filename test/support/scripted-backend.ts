// A RuntimeBackend whose ready replicas the test decides (per deployment), for tests of the rooms
// that only read what runs: nothing is started or stopped.
import type { ReplicaEvent, ReplicaHandle, RuntimeBackend } from '../../src/runtime/backend.ts';
import { ReplicaListeners } from '../../src/runtime/replica-listeners.ts';

/** Ready replicas per deployment, as the test says. */
export class ScriptedBackend implements RuntimeBackend {
  readonly name = 'scripted';
  ready = new Map<string, number>();
  private readonly listeners = new ReplicaListeners();

  /** Tells the watchers of a replica event, as a real backend would. */
  emit(event: ReplicaEvent): void {
    this.listeners.emit(event);
  }
  capacity() {
    return { cpu: 1, memoryBytes: 1, gpus: [] };
  }
  async start(): Promise<ReplicaHandle> {
    throw new Error('not used');
  }
  async stop(_id: string): Promise<void> {}
  /** A deployment's ready replicas; without one, every deployment's. */
  list(deploymentId?: string): ReplicaHandle[] {
    if (deploymentId === undefined) return [...this.ready.keys()].flatMap((id) => this.list(id));
    const n = this.ready.get(deploymentId) ?? 0;
    return Array.from({ length: n }, (_, i) => ({
      id: `${deploymentId}-r${i}`,
      deploymentId,
      phase: 'READY' as const,
      address: '127.0.0.1:1',
      startedAtMs: 0,
      readyAtMs: 0,
      exit: null,
      instanceType: '1x2',
      gpus: [],
      revision: 0,
    }));
  }
  watch(listener: (event: ReplicaEvent) => void): () => void {
    return this.listeners.add(listener);
  }
  adopt(): ReplicaHandle[] {
    return [];
  }
  describe(): string {
    return 'scripted';
  }
  async close() {}
}

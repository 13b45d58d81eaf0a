// A RuntimeBackend whose ready replicas the test decides (per deployment), for tests of the rooms
// that only read what runs: nothing is started or stopped.
import type { ReplicaHandle, RuntimeBackend } from '../../src/runtime/backend.ts';

/** Ready replicas per deployment, as the test says. */
export class ScriptedBackend implements RuntimeBackend {
  readonly name = 'scripted';
  ready = new Map<string, number>();
  capacity() {
    return { cpu: 1, memoryBytes: 1, gpus: [] };
  }
  async start(): Promise<ReplicaHandle> {
    throw new Error('not used');
  }
  async stop(): Promise<void> {}
  list(deploymentId?: string): ReplicaHandle[] {
    const n = deploymentId ? (this.ready.get(deploymentId) ?? 0) : 0;
    return Array.from({ length: n }, (_, i) => ({
      id: `r${i}`,
      deploymentId: deploymentId!,
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
  watch() {
    return () => {};
  }
  adopt(): ReplicaHandle[] {
    return [];
  }
  describe(): string {
    return 'scripted';
  }
  async close() {}
}

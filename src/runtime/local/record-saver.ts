// A replica's record (and its parent file) are written for a later server to adopt it by. A write
// that fails (a full disk) must never stop a replica from starting, running or stopping: it is
// remembered and written again on the next try, each second, until it succeeds; meanwhile only a
// crash of this server would lose the replica.
import type { ReplicaFiles, ReplicaRecord } from './replica-files.ts';

export class RecordSaver {
  /** Replicas whose record on disk is behind; written again by `retry`. */
  private readonly records = new Map<string, ReplicaRecord>();
  /** Replicas whose parent file names an earlier owner. */
  private readonly parents = new Set<string>();

  constructor(private readonly files: ReplicaFiles) {}

  save(record: ReplicaRecord): void {
    const id = record.spec.replicaId;
    try {
      this.files.write(record);
      this.records.delete(id);
    } catch (err) {
      if (!this.records.has(id)) this.warn(id, 'record', err);
      this.records.set(id, record);
    }
  }

  /** Writes that this server (pid) is a replica's owner now. */
  saveParent(id: string): void {
    try {
      this.files.writeParent(id, process.pid);
      this.parents.delete(id);
    } catch (err) {
      if (!this.parents.has(id)) this.warn(id, 'parent file', err);
      this.parents.add(id);
    }
  }

  isBehind(id: string): boolean {
    return this.records.has(id) || this.parents.has(id);
  }

  /** Tries again what failed for one replica. */
  retry(id: string): void {
    if (this.parents.has(id)) this.saveParent(id);
    const record = this.records.get(id);
    if (record) this.save(record);
  }

  forget(id: string): void {
    this.records.delete(id);
    this.parents.delete(id);
  }

  private warn(id: string, what: string, err: unknown): void {
    console.error(`replica ${id}: could not save its ${what} (${(err as Error).message}); trying again`);
  }
}

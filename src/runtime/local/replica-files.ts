// What the local backend keeps on disk about each replica process, so that a server started again
// after a crash can adopt the replicas still running instead of starting them again: a record
// (`<id>.json`: the spec without its environment, the pid and the process's start time, which
// tells a live replica from a reused pid), the process's output (`<id>.out`, `<id>.err`, written
// by the process itself, so they outlive the server's pipes) and the pid of the server that owns
// it now (`<id>.parent`, read by the replica while its first parent is gone). Only the server may
// read them (the directory 0700, the output 0600: what a model prints is no one else's).
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ReplicaSpec } from '../backend.ts';
import { statFields } from './proc-stats.ts';

/** A replica's spec as it is kept on disk: its environment (which holds secrets) is left out. */
export type StoredSpec = Omit<ReplicaSpec, 'env'>;

export interface ReplicaRecord {
  spec: StoredSpec;
  pid: number;
  /** The process's start time (clock ticks since boot, from /proc); null where there is no /proc. */
  processStart: number | null;
  startedAtMs: number;
  /** Where it listens, once it said so. */
  address: string | null;
  gpus: number[];
  /** The user it runs as, when replicas run as their own users (records from before: none). */
  uid?: number | null;
  /** What its model server wants in x-plinth-replica-token (records from before: none). */
  token?: string | null;
  /** Set once the platform asked the replica to stop: a restarted server lets it go rather than adopt it. */
  stopping: boolean;
  /** How far each output file has been passed on to the log sink. */
  offsets: { out: number; err: number };
}

export interface OutputPaths {
  out: string;
  err: string;
}

export class ReplicaFiles {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  output(name: string): OutputPaths {
    return { out: join(this.dir, `${name}.out`), err: join(this.dir, `${name}.err`) };
  }

  /** The file a replica reads its new owner's pid from; also given to it in PLINTH_PARENT_FILE. */
  parentFile(replicaId: string): string {
    return join(this.dir, `${replicaId}.parent`);
  }

  /**
   * Writes the pid of the server that owns a replica. The file is rewritten in place (the replica
   * may read it through a bind mount or an open descriptor), readable by the replica's user.
   */
  writeParent(replicaId: string, pid: number): void {
    writeFileSync(this.parentFile(replicaId), String(pid), { mode: 0o644 });
  }

  /** A path the backend may write a file of its own at for a moment (gone with the replica's files). */
  scratch(name: string): string {
    return join(this.dir, `${name}.scratch`);
  }

  /** Gives a standby's output files the name of the replica it became (the process keeps writing to them). */
  rename(from: string, to: string): void {
    const a = this.output(from);
    const b = this.output(to);
    renameSync(a.out, b.out);
    renameSync(a.err, b.err);
  }

  /**
   * Gives a standby's parent file the name of the replica it became. The standby opens it as it
   * boots and keeps it open: rename it only once it has booted.
   */
  renameParent(from: string, to: string): void {
    if (existsSync(this.parentFile(from))) renameSync(this.parentFile(from), this.parentFile(to));
  }

  /** Writes a record whole or not at all (a crash mid-write leaves the previous one). */
  write(record: ReplicaRecord): void {
    const file = join(this.dir, `${record.spec.replicaId}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(record));
    renameSync(`${file}.tmp`, file);
  }

  /** Every record left by an earlier server (unreadable ones are skipped and removed). */
  records(): ReplicaRecord[] {
    const out: ReplicaRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as ReplicaRecord);
      } catch {
        rmSync(join(this.dir, name), { force: true });
      }
    }
    return out;
  }

  /** Removes what is kept about one replica (or standby). */
  remove(name: string): void {
    for (const suffix of ['.json', '.json.tmp', '.out', '.err', '.parent'])
      rmSync(join(this.dir, `${name}${suffix}`), { force: true });
  }

  /** Removes every file that belongs to none of `keep` (standbys and replicas of a dead server). */
  removeAllBut(keep: Set<string>): void {
    for (const name of readdirSync(this.dir)) {
      const id = name.replace(/\.(json|json\.tmp|out|err|parent)$/, '');
      if (!keep.has(id)) rmSync(join(this.dir, name), { force: true });
    }
  }
}

/** When a process started (clock ticks since boot), or null when it is gone or /proc is absent. */
export function processStart(pid: number): number | null {
  const fields = statFields(pid);
  return fields ? Number(fields[19]) : null;
}

/** Whether `pid` is still the running process a record describes (an exited, unreaped one is not). */
export function isSameProcess(pid: number, start: number | null): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const fields = statFields(pid);
  if (fields === null) return true;
  if (fields[0] === 'Z' || fields[0] === 'X') return false;
  return start === null || Number(fields[19]) === start;
}

/** Opens (creating) a process's output files for appending, as descriptors to hand to spawn. */
export function openOutput(paths: OutputPaths): { out: number; err: number; close(): void } {
  const out = openSync(paths.out, 'a', 0o600);
  const err = openSync(paths.err, 'a', 0o600);
  return {
    out,
    err,
    close() {
      closeSync(out);
      closeSync(err);
    },
  };
}

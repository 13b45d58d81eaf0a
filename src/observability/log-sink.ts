// Collects log records from replicas, builds and the platform, masks secrets in them, and writes
// them to the store in batches (log tails follow the store, not this sink).
import type { LogLevel, LogSource, NewLogRecord } from '../domain/types.ts';
import type { Store } from '../store/store.ts';

/** Where log records are written. */
export type LogWriter = Pick<Store, 'appendLogs'>;

export interface LogTarget {
  model_id: string;
  deployment_id: string;
  replica_id?: string | null;
}

export class LogSink {
  private readonly store: LogWriter;
  private pending: NewLogRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly flushMs: number;
  /** Hides secret values in every line (a model may print one). */
  mask: (text: string) => string = (text) => text;

  constructor(store: LogWriter, flushMs = 100) {
    this.store = store;
    this.flushMs = flushMs;
  }

  write(
    target: LogTarget,
    source: LogSource,
    level: LogLevel,
    message: string,
    requestId: string | null = null,
  ): void {
    this.pending.push({
      time: new Date().toISOString(),
      model_id: target.model_id,
      deployment_id: target.deployment_id,
      replica_id: target.replica_id ?? null,
      source,
      level,
      message: this.mask(message),
      request_id: requestId,
    });
    this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Writes everything pending; resolves once it is in the store. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.store.appendLogs(batch);
      } catch (err) {
        console.error(`plinth: could not store ${batch.length} log lines: ${(err as Error).message}`);
      }
    });
    return this.flushing;
  }
}

/** A replica's stderr line is an error when it says so, else a warning. Levels in JSON lines win. */
export function levelOfLine(stream: 'stdout' | 'stderr', line: string): LogLevel {
  const m = /^\s*\[?(DEBUG|INFO|WARN(?:ING)?|ERROR|CRITICAL|FATAL)\]?[\s:]/.exec(line);
  if (m) {
    const word = m[1]!;
    if (word.startsWith('WARN')) return 'WARNING';
    if (word === 'CRITICAL' || word === 'FATAL') return 'ERROR';
    return word as LogLevel;
  }
  return stream === 'stderr' ? 'ERROR' : 'INFO';
}

// Runs a job per key, one at a time: a request made while the key's job runs queues one more run,
// and every request made while that run waits shares it (it starts after them, so it sees what
// each of them saw). A key is forgotten once its last run has finished.
export class SerialRuns<K> {
  private readonly runs = new Map<K, { running: Promise<void> | null; queued: Promise<void> | null }>();

  constructor(
    private readonly job: (key: K) => Promise<void>,
    /** Told when a key has no run left (after the last one finished). */
    private readonly onIdle: (key: K) => void = () => {},
  ) {}

  /** Resolves (or rejects) with the run that starts after this request. */
  request(key: K): Promise<void> {
    let entry = this.runs.get(key);
    if (!entry) this.runs.set(key, (entry = { running: null, queued: null }));
    if (entry.queued) return entry.queued;
    const runs = entry;
    const run: Promise<void> = (runs.running ?? Promise.resolve())
      .catch(() => undefined)
      .then(async () => {
        runs.queued = null;
        runs.running = run;
        try {
          await this.job(key);
        } finally {
          runs.running = null;
          if (!runs.queued) {
            this.runs.delete(key);
            this.onIdle(key);
          }
        }
      });
    runs.queued = run;
    return run;
  }

  /** Whether a run of `key` is under way or waiting. */
  busy(key: K): boolean {
    return this.runs.has(key);
  }

  get size(): number {
    return this.runs.size;
  }

  /** Once every run under way or waiting now has finished, however it ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.runs.values()].flatMap((r) => [r.running, r.queued]));
  }
}

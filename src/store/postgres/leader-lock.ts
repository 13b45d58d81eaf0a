// One leader among the control planes that share a PostgreSQL store: the one holding a session
// advisory lock runs the control loops (reconciler, autoscaler, builder, promotions). The others
// try again every second; the lock is released by PostgreSQL the moment the leader's connection
// ends (a crash included), so a follower takes over within about a second. A leader whose
// connection fails is told (`onLost`): it can no longer be sure it is the only one.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

const LOCK_NAME = 'plinth control plane';

export class LeaderLock {
  private client: pg.Client | null = null;
  private closed = false;
  private health: NodeJS.Timeout | undefined;

  constructor(private readonly url: string) {}

  /** One attempt: whether this process leads now (false when another does or the store is unreachable). */
  async tryAcquire(onLost: (reason: string) => void): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const r = await client.query<{ held: boolean }>('select pg_try_advisory_lock(hashtext($1)) as held', [
        LOCK_NAME,
      ]);
      if (r.rows[0]?.held && !this.closed) {
        this.client = client;
        this.watch(client, onLost);
        return true;
      }
    } catch {
      // the store is not reachable now
    }
    await client.end().catch(() => undefined);
    return false;
  }

  /** Resolves once this process leads, trying every `retryMs`. */
  async acquire(onLost: (reason: string) => void, retryMs = 1000): Promise<void> {
    while (!this.closed) {
      if (await this.tryAcquire(onLost)) return;
      await sleep(retryMs);
    }
    throw new Error('closed before it led');
  }

  private watch(client: pg.Client, onLost: (reason: string) => void): void {
    let told = false;
    const lost = (reason: string): void => {
      if (told || this.closed) return;
      told = true;
      clearInterval(this.health);
      onLost(reason);
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('the connection to PostgreSQL ended'));
    this.health = setInterval(() => {
      client.query('select 1').catch((err: Error) => lost(err.message));
    }, 2000);
    this.health.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.health);
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}

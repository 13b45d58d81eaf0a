// Changes to what routes and scales, announced between the processes that share one PostgreSQL
// store: every write to deployments, environments, replicas or keys sends a NOTIFY on
// `plinth_changes` naming what changed (`*` after a transaction); `ChangeFeed` LISTENs on its own
// connection, and reconnects with backoff when the server goes away.
import pg from 'pg';
import type { Store } from '../store.ts';

export const CHANNEL = 'plinth_changes';

export type ChangeTopic = 'deployments' | 'environments' | 'replicas' | 'api_keys' | '*';

/** What each store method announces (null: a read, or a write no other process acts on). Every method is listed, so a new one must be classified. */
const TOPICS: Record<keyof Store, ChangeTopic | null> = {
  transaction: '*',
  createModel: 'environments',
  getModel: null,
  listModels: null,
  deleteModel: 'deployments',
  createDeployment: 'deployments',
  getDeployment: null,
  listDeployments: null,
  countDeployments: null,
  listDeploymentStatuses: null,
  updateDeployment: 'deployments',
  transition: 'deployments',
  revise: 'deployments',
  deleteDeployment: 'deployments',
  listEnvironments: null,
  listEnvironmentsOf: null,
  getEnvironment: null,
  createEnvironment: 'environments',
  updateEnvironment: 'environments',
  deleteEnvironment: 'environments',
  createPromotion: 'environments',
  updatePromotion: 'environments',
  listPromotions: null,
  upsertReplica: 'replicas',
  listReplicas: null,
  recordEvent: null,
  listEvents: null,
  createApiKey: null,
  findApiKeyByHash: null,
  listApiKeys: null,
  revokeApiKey: 'api_keys',
  putSecret: null,
  getSecretCiphertext: null,
  listSecrets: null,
  deleteSecret: null,
  appendLogs: null,
  queryLogs: null,
  pruneLogs: null,
  saveMetricBuckets: null,
  queryMetricBuckets: null,
  pruneMetricBuckets: null,
  reportConcurrency: null,
  listConcurrency: null,
  // Inactivity is decided by the leading control plane from the store; nothing else acts on it.
  recordTraffic: null,
  lastTraffic: null,
  // Async requests: the control plane's workers poll the queue; nothing else acts on it yet.
  enqueueAsync: null,
  getAsync: null,
  claimAsync: null,
  renewAsyncLeases: null,
  settleAsync: null,
  cancelAsync: null,
  expireAsync: null,
  reclaimAsyncLeases: null,
  asyncQueueStatus: null,
  asyncQueuedByDeployment: null,
  listWebhooksDue: null,
  recordWebhook: null,
  pruneAsync: null,
  createWebhookSecret: null,
  signingWebhookSecrets: null,
  listWebhookSecrets: null,
  revokeWebhookSecret: null,
  close: null,
};

/** The store, announcing each of its writes with `notify` once the write is done. */
export function announcingChanges(store: Store, notify: (topic: ChangeTopic) => Promise<void>): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      const topic = TOPICS[property as keyof Store];
      if (typeof value !== 'function') return value;
      if (!topic) return (value as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        await notify(topic).catch(() => undefined);
        return result;
      };
    },
  });
}

export class ChangeFeed {
  private client: pg.Client | null = null;
  private closed = false;
  private retryMs = 250;
  private readonly listeners = new Set<(topic: ChangeTopic) => void>();

  constructor(private readonly url: string) {}

  /** Connects and listens; resolves once listening (or once the first attempt failed: it retries). */
  async start(): Promise<void> {
    await this.connect();
  }

  on(listener: (topic: ChangeTopic) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether notices arrive now (false while the connection is being made again). */
  get connected(): boolean {
    return this.client !== null;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url });
    const lost = (): void => {
      if (this.client !== client) return;
      this.client = null;
      void client.end().catch(() => undefined);
      this.emit('*'); // anything may have changed meanwhile
      this.retry();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => this.emit((n.payload ?? '*') as ChangeTopic));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.client = client;
      this.retryMs = 250;
    } catch {
      void client.end().catch(() => undefined);
      this.retry();
    }
  }

  private retry(): void {
    if (this.closed) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 5000);
    setTimeout(() => void this.connect(), wait).unref();
  }

  private emit(topic: ChangeTopic): void {
    for (const listener of this.listeners) listener(topic);
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}

// The Store implemented once over Kysely, for SQLite and PostgreSQL alike (they differ only in how
// they connect). Each table's queries live in their own module under sql/, with one column map for
// reading and writing; this module only binds them to a database handle or a transaction.
import * as apiKeys from './sql/api-keys.ts';
import * as asyncRequests from './sql/async-requests.ts';
import type { Db } from './sql/db.ts';
import { inTransaction } from './sql/db.ts';
import * as deployments from './sql/deployments.ts';
import * as environments from './sql/environments.ts';
import * as events from './sql/events.ts';
import * as concurrency from './sql/gateway-concurrency.ts';
import * as logs from './sql/logs.ts';
import * as metricBuckets from './sql/metric-buckets.ts';
import * as models from './sql/models.ts';
import * as promotions from './sql/promotions.ts';
import * as replicas from './sql/replicas.ts';
import * as secrets from './sql/secrets.ts';
import * as traffic from './sql/traffic.ts';
import * as webhookSecrets from './sql/webhook-secrets.ts';
import type { Store } from './store.ts';

/** A table module's functions with the database handle bound: the store methods of that table. */
type Bound<M> = {
  [K in keyof M]: M[K] extends (db: Db, ...args: infer A) => infer R ? (...args: A) => R : never;
};

function bind<M extends object>(db: Db, module: M): Bound<M> {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(module)) {
    if (typeof fn === 'function')
      out[name] = (...args: unknown[]) => (fn as (...a: unknown[]) => unknown)(db, ...args);
  }
  return out as Bound<M>;
}

/** The store over `db` (a database, or a transaction in one). */
export function sqlStore(db: Db, onClose: () => Promise<void> = async () => {}): Store {
  const store: Store = {
    ...bind(db, models),
    ...bind(db, deployments),
    ...bind(db, environments),
    ...bind(db, promotions),
    ...bind(db, replicas),
    ...bind(db, events),
    ...bind(db, apiKeys),
    ...bind(db, secrets),
    ...bind(db, logs),
    ...bind(db, metricBuckets),
    ...bind(db, concurrency),
    ...bind(db, traffic),
    ...bind(db, asyncRequests),
    ...bind(db, webhookSecrets),
    transaction: (fn) => inTransaction(db, (tx) => fn(tx === db ? store : sqlStore(tx))),
    async close() {
      await db.destroy();
      await onClose();
    },
  };
  return store;
}

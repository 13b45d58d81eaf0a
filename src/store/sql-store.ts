// The Store implemented once over Kysely, for SQLite and PostgreSQL alike (they differ only in how
// they connect). Each table's queries live in their own module under sql/, with one column map for
// reading and writing; this class only binds them to a database handle or a transaction.
import * as apiKeys from './sql/api-keys.ts';
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
import type { Store } from './store.ts';

export class SqlStore implements Store {
  constructor(
    private readonly db: Db,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {}

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    return inTransaction(this.db, (tx) => fn(tx === this.db ? this : new SqlStore(tx)));
  }

  createModel: Store['createModel'] = (name) => models.createModel(this.db, name);
  getModel: Store['getModel'] = (idOrName) => models.getModel(this.db, idOrName);
  listModels: Store['listModels'] = () => models.listModels(this.db);
  deleteModel: Store['deleteModel'] = (id) => models.deleteModel(this.db, id);

  createDeployment: Store['createDeployment'] = (input) => deployments.createDeployment(this.db, input);
  getDeployment: Store['getDeployment'] = (id) => deployments.getDeployment(this.db, id);
  listDeployments: Store['listDeployments'] = (filter) => deployments.listDeployments(this.db, filter);
  updateDeployment: Store['updateDeployment'] = (id, patch) =>
    deployments.updateDeployment(this.db, id, patch);
  transition: Store['transition'] = (id, move) => deployments.transition(this.db, id, move);
  revise: Store['revise'] = (id, move) => deployments.revise(this.db, id, move);
  deleteDeployment: Store['deleteDeployment'] = (id) => deployments.deleteDeployment(this.db, id);

  listEnvironments: Store['listEnvironments'] = (modelId) => environments.listEnvironments(this.db, modelId);
  getEnvironment: Store['getEnvironment'] = (modelId, name) =>
    environments.getEnvironment(this.db, modelId, name);
  createEnvironment: Store['createEnvironment'] = (modelId, name, settings) =>
    environments.createEnvironment(this.db, modelId, name, settings);
  updateEnvironment: Store['updateEnvironment'] = (id, patch) =>
    environments.updateEnvironment(this.db, id, patch);
  deleteEnvironment: Store['deleteEnvironment'] = (id) => environments.deleteEnvironment(this.db, id);

  createPromotion: Store['createPromotion'] = (p) => promotions.createPromotion(this.db, p);
  updatePromotion: Store['updatePromotion'] = (id, patch) => promotions.updatePromotion(this.db, id, patch);
  listPromotions: Store['listPromotions'] = (filter) => promotions.listPromotions(this.db, filter);

  upsertReplica: Store['upsertReplica'] = (replica) => replicas.upsertReplica(this.db, replica);
  listReplicas: Store['listReplicas'] = (filter) => replicas.listReplicas(this.db, filter);

  recordEvent: Store['recordEvent'] = (event) => events.recordEvent(this.db, event);
  listEvents: Store['listEvents'] = (deploymentId) => events.listEvents(this.db, deploymentId);

  createApiKey: Store['createApiKey'] = (input) => apiKeys.createApiKey(this.db, input);
  findApiKeyByHash: Store['findApiKeyByHash'] = (hash) => apiKeys.findApiKeyByHash(this.db, hash);
  listApiKeys: Store['listApiKeys'] = () => apiKeys.listApiKeys(this.db);
  revokeApiKey: Store['revokeApiKey'] = (id) => apiKeys.revokeApiKey(this.db, id);

  putSecret: Store['putSecret'] = (name, ciphertext) => secrets.putSecret(this.db, name, ciphertext);
  getSecretCiphertext: Store['getSecretCiphertext'] = (name) => secrets.getSecretCiphertext(this.db, name);
  listSecrets: Store['listSecrets'] = () => secrets.listSecrets(this.db);
  deleteSecret: Store['deleteSecret'] = (name) => secrets.deleteSecret(this.db, name);

  appendLogs: Store['appendLogs'] = (records) => logs.appendLogs(this.db, records);
  queryLogs: Store['queryLogs'] = (query) => logs.queryLogs(this.db, query);
  pruneLogs: Store['pruneLogs'] = (options) => logs.pruneLogs(this.db, options);

  saveMetricBuckets: Store['saveMetricBuckets'] = (buckets) =>
    metricBuckets.saveMetricBuckets(this.db, buckets);
  queryMetricBuckets: Store['queryMetricBuckets'] = (query) =>
    metricBuckets.queryMetricBuckets(this.db, query);
  pruneMetricBuckets: Store['pruneMetricBuckets'] = (resolution, before) =>
    metricBuckets.pruneMetricBuckets(this.db, resolution, before);

  reportConcurrency: Store['reportConcurrency'] = (reports) =>
    concurrency.reportConcurrency(this.db, reports);
  listConcurrency: Store['listConcurrency'] = (since) => concurrency.listConcurrency(this.db, since);

  async close(): Promise<void> {
    await this.db.destroy();
    await this.onClose();
  }
}

// The api_keys table: keys are stored by hash only; a revoked key stays listed with its time.
import { PlinthError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { ApiKey, ApiKeyScope } from '../../domain/types.ts';
import type { ApiKeysTable } from '../schema.ts';
import type { NewApiKey } from '../store.ts';
import { columnMap, nullableJson, same } from './column-map.ts';
import type { Db } from './db.ts';
import { now } from './db.ts';

const columns = columnMap<ApiKey, Omit<ApiKeysTable, 'hash'>>({
  id: same('id'),
  name: same('name'),
  prefix: same('prefix'),
  scope: same<ApiKeyScope>('scope'),
  models: nullableJson<string[]>('models_json'),
  created_at: same('created_at'),
  revoked_at: same('revoked_at'),
});

export async function createApiKey(db: Db, input: NewApiKey): Promise<ApiKey> {
  const key: ApiKey = {
    id: newId('k'),
    name: input.name,
    prefix: input.prefix,
    scope: input.scope,
    models: input.models ?? null,
    created_at: now(),
    revoked_at: null,
  };
  await db
    .insertInto('api_keys')
    .values({ ...columns.toRow(key), hash: input.hash })
    .execute();
  return key;
}

export async function findApiKeyByHash(db: Db, hash: string): Promise<ApiKey | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('hash', '=', hash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row && columns.fromRow(row);
}

export async function listApiKeys(db: Db): Promise<ApiKey[]> {
  const rows = await db.selectFrom('api_keys').selectAll().orderBy('created_at').execute();
  return rows.map((r) => columns.fromRow(r));
}

export async function revokeApiKey(db: Db, id: string): Promise<void> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: now() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw new PlinthError('NOT_FOUND', `API key ${id} not found`);
}

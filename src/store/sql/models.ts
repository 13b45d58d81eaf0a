// The models table: a model is created with its `production` environment and deleted with
// everything it owns. Names are unique regardless of case (the `name_key` column).
import { PlinthError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { modelNameKey, quoteModelName } from '../../domain/model-name.ts';
import type { Model } from '../../domain/types.ts';
import type { ModelPageQuery } from '../store.ts';
import type { Db } from './db.ts';
import { inTransaction, isUniqueViolation, now } from './db.ts';
import { deleteDeployment } from './deployments.ts';
import { createEnvironment } from './environments.ts';

const MODEL_COLUMNS = ['id', 'name', 'created_at'] as const;

function nameTaken(name: string, existing?: string): PlinthError {
  return new PlinthError(
    'CONFLICT',
    `model name ${quoteModelName(name)} is taken` +
      (existing !== undefined ? ` by model ${quoteModelName(existing)}` : '') +
      ' (model names are unique regardless of case)',
  );
}

export function createModel(db: Db, name: string): Promise<Model> {
  const key = modelNameKey(name);
  return inTransaction(db, async (tx) => {
    const same = await tx.selectFrom('models').select('name').where('name_key', '=', key).executeTakeFirst();
    if (same) throw nameTaken(name, same.name);
    const model: Model = { id: newId('m'), name, created_at: now() };
    try {
      await tx
        .insertInto('models')
        .values({ ...model, name_key: key })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(name);
      throw err;
    }
    await createEnvironment(tx, model.id, 'production');
    return model;
  });
}

export async function getModel(db: Db, idOrName: string): Promise<Model | undefined> {
  // An id wins over a model that happens to be named like one.
  const byId = await db
    .selectFrom('models')
    .select(MODEL_COLUMNS)
    .where('id', '=', idOrName)
    .executeTakeFirst();
  return (
    byId ?? db.selectFrom('models').select(MODEL_COLUMNS).where('name', '=', idOrName).executeTakeFirst()
  );
}

/** Models oldest first (created_at, then id): all of them, or a page after a given one. */
export function listModels(db: Db, page: ModelPageQuery = {}): Promise<Model[]> {
  if (page.ids?.length === 0) return Promise.resolve([]);
  let q = db.selectFrom('models').select(MODEL_COLUMNS);
  if (page.ids) q = q.where('id', 'in', [...page.ids]);
  const after = page.after;
  if (after) {
    q = q.where((eb) =>
      eb.or([
        eb('created_at', '>', after.created_at),
        eb.and([eb('created_at', '=', after.created_at), eb('id', '>', after.id)]),
      ]),
    );
  }
  q = q.orderBy('created_at').orderBy('id');
  return (page.limit === undefined ? q : q.limit(page.limit)).execute();
}

export function deleteModel(db: Db, id: string): Promise<void> {
  return inTransaction(db, async (tx) => {
    const deployments = await tx.selectFrom('deployments').select('id').where('model_id', '=', id).execute();
    for (const d of deployments) await deleteDeployment(tx, d.id);
    await tx.deleteFrom('promotions').where('model_id', '=', id).execute();
    await tx.deleteFrom('environments').where('model_id', '=', id).execute();
    await tx.deleteFrom('models').where('id', '=', id).execute();
  });
}

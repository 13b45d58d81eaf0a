// The models table: a model is created with its `production` environment and deleted with
// everything it owns.
import { newId } from '../../domain/ids.ts';
import type { Model } from '../../domain/types.ts';
import type { Db } from './db.ts';
import { inTransaction, now } from './db.ts';
import { deleteDeployment } from './deployments.ts';
import { createEnvironment } from './environments.ts';

export function createModel(db: Db, name: string): Promise<Model> {
  return inTransaction(db, async (tx) => {
    const model: Model = { id: newId('m'), name, created_at: now() };
    await tx.insertInto('models').values(model).execute();
    await createEnvironment(tx, model.id, 'production');
    return model;
  });
}

export async function getModel(db: Db, idOrName: string): Promise<Model | undefined> {
  // An id wins over a model that happens to be named like one.
  const byId = await db.selectFrom('models').selectAll().where('id', '=', idOrName).executeTakeFirst();
  return byId ?? db.selectFrom('models').selectAll().where('name', '=', idOrName).executeTakeFirst();
}

export function listModels(db: Db): Promise<Model[]> {
  return db.selectFrom('models').selectAll().orderBy('created_at').orderBy('id').execute();
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

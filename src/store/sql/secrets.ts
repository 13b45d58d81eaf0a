// The secrets table: ciphertexts only (the vault encrypts and decrypts); listing never reads them.
import type { SecretInfo } from '../../domain/types.ts';
import type { Db } from './db.ts';
import { now } from './db.ts';

export async function putSecret(db: Db, name: string, ciphertext: string): Promise<SecretInfo> {
  const at = now();
  await db
    .insertInto('secrets')
    .values({ name, ciphertext, created_at: at, updated_at: at })
    .onConflict((oc) => oc.column('name').doUpdateSet({ ciphertext, updated_at: at }))
    .execute();
  return db
    .selectFrom('secrets')
    .select(['name', 'created_at', 'updated_at'])
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
}

export async function getSecretCiphertext(db: Db, name: string): Promise<string | undefined> {
  const row = await db.selectFrom('secrets').select('ciphertext').where('name', '=', name).executeTakeFirst();
  return row?.ciphertext;
}

export function listSecrets(db: Db): Promise<SecretInfo[]> {
  return db.selectFrom('secrets').select(['name', 'created_at', 'updated_at']).orderBy('name').execute();
}

export async function deleteSecret(db: Db, name: string): Promise<boolean> {
  const r = await db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

// The webhook_secrets table: ciphertexts of the secrets that sign webhook deliveries (the caller
// encrypts and decrypts, as with secrets). Listing never reads a ciphertext; only the signing set,
// which the deliverer needs, does. A revoked secret keeps signing until its expires_at.
import type { WebhookSecretInfo } from '../../domain/async-requests.ts';
import type { Db } from './db.ts';
import { now } from './db.ts';

const INFO_COLUMNS = ['id', 'created_at', 'expires_at'] as const;

export async function createWebhookSecret(
  db: Db,
  input: { id: string; ciphertext: string },
): Promise<WebhookSecretInfo> {
  const secret: WebhookSecretInfo = { id: input.id, created_at: now(), expires_at: null };
  await db
    .insertInto('webhook_secrets')
    .values({ ...secret, ciphertext: input.ciphertext })
    .execute();
  return secret;
}

/** Not revoked, or revoked with expires_at after `now_iso`; newest first, with ciphertexts. */
export function signingWebhookSecrets(
  db: Db,
  now_iso: string,
): Promise<(WebhookSecretInfo & { ciphertext: string })[]> {
  return db
    .selectFrom('webhook_secrets')
    .select([...INFO_COLUMNS, 'ciphertext'])
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now_iso)]))
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

/** Every secret, newest first, without its ciphertext. */
export function listWebhookSecrets(db: Db): Promise<WebhookSecretInfo[]> {
  return db
    .selectFrom('webhook_secrets')
    .select(INFO_COLUMNS)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

/** Sets expires_at; a secret already revoked keeps the earlier of the two times. False when there was none. */
export async function revokeWebhookSecret(db: Db, id: string, expires_at: string): Promise<boolean> {
  await db
    .updateTable('webhook_secrets')
    .set({ expires_at })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', expires_at)]))
    .execute();
  const row = await db.selectFrom('webhook_secrets').select('id').where('id', '=', id).executeTakeFirst();
  return row !== undefined;
}

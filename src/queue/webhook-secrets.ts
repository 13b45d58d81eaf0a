// The secrets webhooks are signed with: made here (`whsec_…`, shown once), kept encrypted like
// other secrets, listed by id and time only. Revoking one keeps it signing for an overlap (default
// 24 h) beside the newer ones, so receivers can move to the new secret without a gap.
import { randomBytes } from 'node:crypto';
import { PlinthError } from '../domain/errors.ts';
import type { WebhookSecretInfo } from '../domain/async-requests.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { Store } from '../store/store.ts';
import { newWebhookSecret } from './webhook-signature.ts';

export type WebhookSecretStore = Pick<
  Store,
  'createWebhookSecret' | 'signingWebhookSecrets' | 'listWebhookSecrets' | 'revokeWebhookSecret'
>;

export const DEFAULT_OVERLAP_MS = 24 * 3600_000;

export class WebhookSecrets {
  constructor(
    private readonly store: WebhookSecretStore,
    private readonly box: SecretBox,
  ) {}

  /** A new secret: its value is in this answer and nowhere else. */
  async create(): Promise<WebhookSecretInfo & { secret: string }> {
    const secret = newWebhookSecret();
    const info = await this.store.createWebhookSecret({
      id: `wh${randomBytes(6).toString('hex')}`,
      ciphertext: this.box.encrypt(secret),
    });
    return { ...info, secret };
  }

  list(): Promise<WebhookSecretInfo[]> {
    return this.store.listWebhookSecrets();
  }

  async revoke(id: string, overlapMs = DEFAULT_OVERLAP_MS): Promise<WebhookSecretInfo> {
    const expiresAt = new Date(Date.now() + overlapMs).toISOString();
    if (!(await this.store.revokeWebhookSecret(id, expiresAt)))
      throw new PlinthError('NOT_FOUND', `no webhook secret ${id}`);
    const found = (await this.store.listWebhookSecrets()).find((s) => s.id === id)!;
    return found;
  }

  /** The values that sign now, newest first. */
  async signing(): Promise<string[]> {
    const rows = await this.store.signingWebhookSecrets(new Date().toISOString());
    return rows.map((r) => this.box.decrypt(r.ciphertext));
  }
}

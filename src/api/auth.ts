// API-key authentication: `Authorization: Api-Key <key>` (or `Bearer <key>`). Only sha256 hashes
// of keys are stored; a hash lookup is constant-time with respect to the key's content.
import { createHash, randomBytes } from 'node:crypto';
import { PlinthError } from '../domain/errors.ts';
import type { ApiKey } from '../domain/types.ts';
import type { Store } from '../store/store.ts';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function newApiKeySecret(): string {
  return `plk_${randomBytes(24).toString('base64url')}`;
}

export function keyFromHeader(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^(?:Api-Key|Bearer)\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

export class Authenticator {
  private readonly cache = new Map<string, { key: ApiKey; expiresAtMs: number }>();

  constructor(private readonly store: Store) {}

  async authenticate(header: string | undefined): Promise<ApiKey> {
    const secret = keyFromHeader(header);
    if (!secret) {
      throw new PlinthError('UNAUTHENTICATED', 'missing API key: send "Authorization: Api-Key <key>"');
    }
    const hash = hashApiKey(secret);
    const hit = this.cache.get(hash);
    if (hit && hit.expiresAtMs > Date.now()) return hit.key;
    const key = await this.store.findApiKeyByHash(hash);
    if (!key) throw new PlinthError('UNAUTHENTICATED', 'invalid or revoked API key');
    this.cache.set(hash, { key, expiresAtMs: Date.now() + 5000 });
    return key;
  }

  /** Creates a key and returns its secret (shown once; only the hash is kept). */
  async create(name: string, scope: ApiKey['scope']): Promise<{ key: ApiKey; secret: string }> {
    const secret = newApiKeySecret();
    const key = await this.store.createApiKey({
      name,
      scope,
      prefix: secret.slice(0, 8),
      hash: hashApiKey(secret),
    });
    return { key, secret };
  }
}

// API-key authentication: `Authorization: Api-Key <key>` (or `Bearer <key>`). Only sha256 hashes
// of keys are stored; a hash lookup is constant-time with respect to the key's content.
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash, randomBytes } from 'node:crypto';
import { PlinthError } from '../domain/errors.ts';
import type { ApiKey, Model } from '../domain/types.ts';
import { mayCallModel } from './access.ts';
import type { Store } from '../store/store.ts';

/** Where API keys (their hashes) are kept. */
export type KeyStore = Pick<Store, 'createApiKey' | 'findApiKeyByHash' | 'revokeApiKey'>;

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

const FAILURE_WINDOW_MS = 60_000;
/** A key is checked against the store again after this long. */
const RECHECK_MS = 5000;
/** While the store cannot be reached, a key it accepted this recently is still accepted. */
const STALE_OK_MS = 10 * 60_000;

interface CachedKey {
  key: ApiKey;
  checkedAtMs: number;
  expiresAtMs: number;
}

/** Authorization headers remembered with their key, so a repeat caller is not hashed again. */
const MAX_REMEMBERED_HEADERS = 10_000;

export class Authenticator {
  private readonly cache = new Map<string, CachedKey>();
  /**
   * The same entries by the exact Authorization header that found them (the gateway's hot path:
   * no parse, no sha256). Only headers that carried a valid key are kept; a lookup of any other
   * header misses and goes the hashed way, so no part of a key is learnt from its timing.
   */
  private readonly byHeader = new Map<string, CachedKey>();
  private readonly failures = new Map<string, { count: number; since: number }>();

  /** `freeFailures`: failed attempts a client may make in a minute before answers slow down. */
  constructor(
    private readonly store: KeyStore,
    private readonly freeFailures = 20,
  ) {}

  /** The key a request carries; `client` (its address) is slowed down after repeated failures. */
  async authenticate(header: string | undefined, client = ''): Promise<ApiKey> {
    return this.cached(header) ?? this.check(header, client);
  }

  /** The key of a header checked lately and still fresh, without a promise; null otherwise. */
  cached(header: string | undefined): ApiKey | null {
    if (header === undefined) return null;
    const hit = this.byHeader.get(header);
    return hit && hit.expiresAtMs > Date.now() ? hit.key : null;
  }

  private async check(header: string | undefined, client: string): Promise<ApiKey> {
    const secret = keyFromHeader(header);
    if (!secret) {
      return this.fail(client, 'missing API key: send "Authorization: Api-Key <key>"');
    }
    const hash = hashApiKey(secret);
    const hit = this.cache.get(hash);
    if (hit && hit.expiresAtMs > Date.now()) {
      this.remember(header!, secret, hit);
      return hit.key;
    }
    // The lookup is by the key's hash, so its time does not depend on how much of a key matches.
    let key: ApiKey | undefined;
    try {
      key = await this.store.findApiKeyByHash(hash);
    } catch (err) {
      // Through a short store outage, keys checked lately still pass (a revocation made meanwhile
      // takes effect once the store answers again).
      if (hit && Date.now() - hit.checkedAtMs < STALE_OK_MS) return hit.key;
      throw new PlinthError(
        'STORE_UNAVAILABLE',
        `cannot check the API key: the store is unreachable (${(err as Error).message})`,
      );
    }
    if (!key) return this.fail(client, 'invalid or revoked API key');
    const now = Date.now();
    const entry = { key, checkedAtMs: now, expiresAtMs: now + RECHECK_MS };
    this.cache.set(hash, entry);
    this.remember(header!, secret, entry);
    return key;
  }

  /** Only the two plain spellings are remembered: a key holder cannot fill memory with variants. */
  private remember(header: string, secret: string, entry: CachedKey): void {
    if (header !== `Api-Key ${secret}` && header !== `Bearer ${secret}`) return;
    if (this.byHeader.size >= MAX_REMEMBERED_HEADERS) this.byHeader.clear();
    this.byHeader.set(header, entry);
  }

  /** Keys are checked against the store again on their next use (another process may have changed one). */
  expireCached(): void {
    for (const entry of this.cache.values()) entry.expiresAtMs = 0;
  }

  /** Milliseconds a failure from `client` waits now: nothing for the first few, then more each time. */
  failureDelayMs(client: string): number {
    const f = this.failures.get(client);
    if (!f || Date.now() - f.since > FAILURE_WINDOW_MS) return 0;
    return Math.min(2000, Math.max(0, f.count - this.freeFailures) * 100);
  }

  private async fail(client: string, message: string): Promise<never> {
    const now = Date.now();
    const f = this.failures.get(client);
    this.failures.set(
      client,
      f && now - f.since <= FAILURE_WINDOW_MS
        ? { count: f.count + 1, since: f.since }
        : { count: 1, since: now },
    );
    if (this.failures.size > 10_000) this.failures.clear();
    const delay = this.failureDelayMs(client);
    if (delay > 0) await sleep(delay);
    throw new PlinthError('UNAUTHENTICATED', message);
  }

  /** Forgets the keys checked lately (another process revoked one: it must not pass even if the store goes away). */
  forgetCached(): void {
    this.cache.clear();
    this.byHeader.clear();
  }

  /** Revoking a key takes effect at once, not when the cache expires. */
  async revoke(id: string): Promise<void> {
    await this.store.revokeApiKey(id);
    for (const [hash, entry] of this.cache) if (entry.key.id === id) this.cache.delete(hash);
    for (const [header, entry] of this.byHeader) if (entry.key.id === id) this.byHeader.delete(header);
  }

  /** Creates a key and returns its secret (shown once; only the hash is kept). */
  async create(
    name: string,
    scope: ApiKey['scope'],
    models: string[] | null = null,
  ): Promise<{ key: ApiKey; secret: string }> {
    const secret = newApiKeySecret();
    const key = await this.store.createApiKey({
      name,
      scope,
      models,
      prefix: secret.slice(0, 8),
      hash: hashApiKey(secret),
    });
    return { key, secret };
  }
}

/**
 * The gateway's key check: throws unless the key may call the model (an inference key may be
 * limited to some). A key checked lately answers at once, without a promise; only a first sight
 * of a header, or one due for a recheck, returns one.
 */
export type InferenceAuthorizer = (
  authorization: string | undefined,
  client: string,
  model: Model | null,
) => Promise<void> | void;

export function inferenceAuthorizer(auth: Authenticator): InferenceAuthorizer {
  const allow = (key: ApiKey, model: Model | null): void => {
    if (model && !mayCallModel(key, model)) {
      throw new PlinthError('FORBIDDEN', `API key "${key.name}" may not call model ${model.name}`);
    }
  };
  return (authorization, client, model) => {
    const cached = auth.cached(authorization);
    if (cached) return allow(cached, model);
    return auth.authenticate(authorization, client).then((key) => allow(key, model));
  };
}

// Webhook signatures: `X-Plinth-Signature: v1=<hex HMAC-SHA256 of the raw body>`, one `v1=` per
// signing secret while a secret rotates (comma-separated), and the receiver's side of the check.
// The key is the whole secret string (`whsec_…`) as UTF-8. Never logs or returns a secret.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Plinth-Signature';
const VERSION = 'v1';

/** A new signing secret: `whsec_` + 32 random bytes, base64url. Shown once, at creation. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

function hmacHex(body: string | Buffer, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** The header value: `v1=<hex>` for each secret, in the order given. At least one secret. */
export function signWebhook(body: string | Buffer, secrets: readonly string[]): string {
  if (secrets.length === 0) throw new Error('signWebhook: no webhook secret to sign with');
  return secrets.map((secret) => `${VERSION}=${hmacHex(body, secret)}`).join(',');
}

/**
 * Whether any `v1=` signature in the header is the body's under this secret. The comparison is
 * constant-time and every listed signature is compared (no early exit on a match).
 */
export function verifyWebhook(
  body: string | Buffer,
  header: string | null | undefined,
  secret: string,
): boolean {
  if (!header) return false;
  const expected = Buffer.from(hmacHex(body, secret), 'hex');
  let matched = false;
  for (const part of header.split(',')) {
    const [version, hex] = part.trim().split('=', 2);
    if (version !== VERSION || !hex || !/^[0-9a-f]+$/i.test(hex) || hex.length !== expected.length * 2)
      continue;
    if (timingSafeEqual(Buffer.from(hex, 'hex'), expected)) matched = true;
  }
  return matched;
}

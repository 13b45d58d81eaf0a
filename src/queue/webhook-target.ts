// Whether a webhook URL may be delivered to, and the address to connect to: http(s) only, no
// userinfo, and (unless private webhooks are allowed) no name that resolves to a loopback, private,
// link-local (cloud metadata), CGNAT, unspecified or other special address. The caller connects to
// the address returned here, never resolving the name again (no DNS rebinding between check and
// connect). Refusals are values with a one-line reason; it never throws for a bad URL.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { addressRange } from './address-ranges.ts';

export interface LookupAddress {
  address: string;
  family: number;
}
/** Every address a name resolves to (dns.lookup with all: true); tests inject one for made-up names. */
export type WebhookLookup = (hostname: string) => Promise<readonly LookupAddress[]>;

export interface WebhookTargetOptions {
  allowPrivate: boolean;
  lookup?: WebhookLookup;
}

export type WebhookTarget =
  | { ok: true; address: string }
  /** transient: the name did not resolve now (worth another try later); otherwise refused for good. */
  | { ok: false; reason: string; transient?: true };

const ALLOW_HINT = 'start the server with --allow-private-webhooks to allow it';

const systemLookup: WebhookLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** The URL's host as a name or a bare IP literal (IPv6 without its brackets). */
export function webhookHostname(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

export async function checkWebhookTarget(url: string, options: WebhookTargetOptions): Promise<WebhookTarget> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: `webhook ${JSON.stringify(url)} is not a URL` };
  }
  const shown = parsed.username || parsed.password ? `${parsed.protocol}//…@${parsed.host}` : parsed.href;
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, reason: `webhook ${shown}: only http and https URLs are allowed` };
  }
  if (parsed.username || parsed.password) {
    return { ok: false, reason: `webhook ${shown}: a URL with a user name or password is not allowed` };
  }
  const hostname = webhookHostname(parsed);
  let addresses: readonly LookupAddress[];
  if (isIP(hostname)) {
    addresses = [{ address: hostname, family: isIP(hostname) }];
  } else {
    try {
      addresses = await (options.lookup ?? systemLookup)(hostname);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      return {
        ok: false,
        reason: `webhook ${shown}: ${hostname} does not resolve (${code})`,
        transient: true,
      };
    }
    if (addresses.length === 0) {
      return { ok: false, reason: `webhook ${shown}: ${hostname} resolves to no address`, transient: true };
    }
  }
  if (!options.allowPrivate) {
    // Every address must pass: a name with one public and one private address is refused.
    for (const { address } of addresses) {
      const range = addressRange(address);
      if (range === null) continue;
      const via = address === hostname ? '' : ` resolves to ${address},`;
      return { ok: false, reason: `webhook ${shown}:${via} a ${range} address: refused (${ALLOW_HINT})` };
    }
  }
  return { ok: true, address: addresses[0]!.address };
}

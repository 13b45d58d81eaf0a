// Who sent a request: the connection's peer, or, for a request a gateway worker passed to its
// primary process (`--gateway-workers`), the client the worker took it from. The primary's door
// for its workers marks such a request with this symbol; nothing a client sends can set it. Pure.

/** Set on a passed request (node's IncomingMessage) by the primary's door: the client's address. */
export const FORWARDED_CLIENT = Symbol.for('plinth.forwarded-client');

/** The address a request came from, for rate limits and logs. */
export function clientAddress(req: { socket?: { remoteAddress?: string } | null }): string {
  const forwarded = (req as { [FORWARDED_CLIENT]?: unknown })[FORWARDED_CLIENT];
  return typeof forwarded === 'string' ? forwarded : (req.socket?.remoteAddress ?? '');
}

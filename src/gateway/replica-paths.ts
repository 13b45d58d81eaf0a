// Which path of a deployment's replicas an inference route reaches: `…/predict` the model server's
// predict route (a custom server's `predict_endpoint`); `…/sync/{path}` any route of a custom
// server, but of a model server only its OpenAI routes — its other routes (readiness, the
// environment it serves) are the platform's, never the caller's. And where a replica's address
// points: a host and port, or a Unix socket. Pure.
import { PlinthError } from '../domain/errors.ts';
import type { Deployment } from '../domain/types.ts';
import { REPLICA_PREDICT_PATH } from './proxy.ts';

/** The OpenAI-compatible routes a model server answers with a model's methods. */
export const OPENAI_PATHS: ReadonlySet<string> = new Set([
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/messages',
  '/v1/responses',
]);

export function isCustomServer(d: Deployment): boolean {
  return (d.config as { docker_server?: unknown }).docker_server !== undefined;
}

/** Where a deployment's replicas take `…/predict`. */
export function predictPathOf(d: Deployment): string {
  return (
    (d.config as { docker_server?: { predict_endpoint: string } }).docker_server?.predict_endpoint ??
    REPLICA_PREDICT_PATH
  );
}

/** The path `…/sync/{path}` reaches on a deployment's replicas; NOT_FOUND where it may not go. */
export function syncPathOf(d: Deployment, path: string): string {
  if (isCustomServer(d)) return path;
  const q = path.indexOf('?');
  if (OPENAI_PATHS.has(q === -1 ? path : path.slice(0, q))) return path;
  throw new PlinthError(
    'NOT_FOUND',
    `deployment ${d.name} runs a model class: …/sync reaches only its OpenAI routes (${[...OPENAI_PATHS].join(', ')}), not ${path}`,
  );
}

/** Where a replica listens: `host:port` (IPv6 in brackets), or a Unix socket's path. */
export type ReplicaEndpoint = { path: string } | { host: string; port: number };

export function replicaEndpoint(address: string): ReplicaEndpoint {
  const i = address.lastIndexOf(':');
  if (address.startsWith('/') || i === -1) return { path: address };
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

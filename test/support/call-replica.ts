// Calls a replica's model server directly, as a gateway does: with its token, where it has one.
export interface ReachableReplica {
  address: string | null;
  token?: string | null;
}

export function callReplica(replica: ReachableReplica, body: unknown): Promise<Response> {
  if (!replica.address) throw new Error('the replica has no address yet');
  return fetch(`http://${replica.address}/v1/models/model:predict`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: replica.token ? { 'x-plinth-replica-token': replica.token } : {},
  });
}

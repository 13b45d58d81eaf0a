// Pushes a bundle through the management API as the CLI would (PUT the bytes, then ask for a
// deployment), but from bytes the test made: a hostile tarball the CLI would never pack.
export interface PushOutcome {
  status: number;
  body: { error?: { code: string; message: string }; id?: string };
}

export async function pushBundle(
  url: string,
  apiKey: string,
  model: string,
  bytes: Buffer,
  sha256: string,
  /** More fields of the create request (`{ development: true }`). */
  extra: Record<string, unknown> = {},
): Promise<PushOutcome> {
  const headers = { authorization: `Api-Key ${apiKey}` };
  const put = await fetch(`${url}/v1/bundles/${sha256}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/gzip' },
    body: bytes,
  });
  if (put.status >= 300) return { status: put.status, body: (await put.json()) as PushOutcome['body'] };
  const res = await fetch(`${url}/v1/models/${encodeURIComponent(model)}/deployments`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ bundle_sha256: sha256, ...extra }),
  });
  return { status: res.status, body: (await res.json()) as PushOutcome['body'] };
}

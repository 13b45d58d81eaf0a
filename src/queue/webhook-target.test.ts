import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebhookLookup } from './webhook-target.ts';
import { checkWebhookTarget } from './webhook-target.ts';

const strict = { allowPrivate: false };

/** Made-up names cannot resolve for real: this lookup answers for them, and fails for the rest. */
function fakeDns(table: Record<string, string[]>): WebhookLookup {
  return async (hostname) => {
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

async function refusal(url: string, options: Parameters<typeof checkWebhookTarget>[1] = strict) {
  const result = await checkWebhookTarget(url, options);
  assert.equal(result.ok, false, `${url} should be refused`);
  return result as { ok: false; reason: string; transient?: true };
}

test('each refused range is refused, by literal address, with a one-line reason naming the URL and why', async () => {
  const cases: [string, string][] = [
    ['http://127.0.0.1:8080/hook', 'loopback'],
    ['http://[::1]/hook', 'loopback'],
    ['http://10.0.0.5/hook', 'private'],
    ['http://172.20.1.1/hook', 'private'],
    ['https://192.168.1.10/hook', 'private'],
    ['http://[fd00::1]/hook', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['http://[fe80::1]/hook', 'link-local'],
    ['http://0.0.0.0:4780/hook', 'unspecified'],
    ['http://[::]/hook', 'unspecified'],
    ['http://100.64.0.1/hook', 'shared (CGNAT)'],
    ['http://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['http://[::ffff:169.254.169.254]/hook', 'link-local'],
    ['http://[::ffff:a00:1]/hook', 'private'],
  ];
  for (const [url, range] of cases) {
    const { reason, transient } = await refusal(url);
    assert.ok(reason.startsWith(`webhook ${new URL(url).href}:`), reason);
    assert.match(reason, new RegExp(`a ${range.replace(/[()]/g, '\\$&')} address: refused`), url);
    assert.match(reason, /--allow-private-webhooks/);
    assert.doesNotMatch(reason, /\n/);
    assert.equal(transient, undefined);
  }
});

test('localhost resolves for real, to loopback, and is refused', async () => {
  const { reason } = await refusal('http://localhost:9000/hook');
  assert.match(
    reason,
    /^webhook http:\/\/localhost:9000\/hook: resolves to (127\.0\.0\.1|::1), a loopback address/,
  );
});

test('a name is refused if any of its addresses is special (one private among public ones)', async () => {
  const lookup = fakeDns({
    'mixed.example': ['93.184.216.34', '10.0.0.7'],
    'metadata.example': ['169.254.169.254'],
    'cgnat.example': ['100.100.100.100'],
    'mapped.example': ['::ffff:192.168.0.1'],
  });
  assert.match(
    (await refusal('https://mixed.example/h', { allowPrivate: false, lookup })).reason,
    /10\.0\.0\.7, a private/,
  );
  assert.match(
    (await refusal('http://metadata.example/', { allowPrivate: false, lookup })).reason,
    /link-local/,
  );
  assert.match((await refusal('http://cgnat.example/', { allowPrivate: false, lookup })).reason, /CGNAT/);
  assert.match((await refusal('http://mapped.example/', { allowPrivate: false, lookup })).reason, /private/);
});

test('a public address passes and is the address to connect to', async () => {
  const lookup = fakeDns({ 'hooks.example': ['93.184.216.34', '2606:2800:220:1::1'] });
  assert.deepEqual(await checkWebhookTarget('https://hooks.example/in', { allowPrivate: false, lookup }), {
    ok: true,
    address: '93.184.216.34',
  });
  assert.deepEqual(await checkWebhookTarget('http://8.8.8.8/in', strict), { ok: true, address: '8.8.8.8' });
  assert.deepEqual(await checkWebhookTarget('http://[2606:4700::1111]/in', strict), {
    ok: true,
    address: '2606:4700::1111',
  });
});

test('allowPrivate lets loopback and private targets through', async () => {
  const allow = { allowPrivate: true };
  assert.deepEqual(await checkWebhookTarget('http://127.0.0.1:8080/hook', allow), {
    ok: true,
    address: '127.0.0.1',
  });
  assert.deepEqual(await checkWebhookTarget('http://[::1]:8080/hook', allow), { ok: true, address: '::1' });
  const local = await checkWebhookTarget('http://localhost:8080/hook', allow);
  assert.ok(local.ok && ['127.0.0.1', '::1'].includes(local.address));
});

test('only http and https; no user name or password; not a URL at all', async () => {
  assert.match(
    (await refusal('ftp://8.8.8.8/hook')).reason,
    /^webhook ftp:\/\/8\.8\.8\.8\/hook: only http and https/,
  );
  assert.match((await refusal('file:///etc/passwd')).reason, /only http and https/);
  const userinfo = (await refusal('https://user:hunter2@8.8.8.8/hook')).reason;
  assert.match(userinfo, /user name or password is not allowed/);
  assert.doesNotMatch(userinfo, /hunter2/);
  assert.match((await refusal('not a url')).reason, /^webhook "not a url" is not a URL$/);
  // Refused even where private targets are allowed.
  assert.match((await refusal('ftp://127.0.0.1/', { allowPrivate: true })).reason, /only http and https/);
});

test('a name that does not resolve is a transient refusal (worth trying again later)', async () => {
  const result = await refusal('https://nowhere.example/hook', { allowPrivate: false, lookup: fakeDns({}) });
  assert.match(result.reason, /nowhere\.example does not resolve \(ENOTFOUND\)/);
  assert.equal(result.transient, true);
});

// Masking: a secret's value is hidden in what a model prints, as it is and in the forms it takes
// when printed escaped or encoded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqliteStore } from '../store/sqlite/open.ts';
import { SecretBox } from './secret-box.ts';
import { MASK, Vault } from './vault.ts';

test('a secret is masked as it is, escaped, encoded and upper-cased; other text is left alone', async () => {
  const store = await openSqliteStore(':memory:');
  const vault = new Vault(store, SecretBox.open('', Buffer.alloc(32, 7).toString('base64')));
  const token = 'hf_Ab3/+"q\\Zx9-long-token';
  await vault.set('hf_token', token);
  const lines = [
    `token=${token}`,
    `{"token": ${JSON.stringify(token)}}`,
    `GET /download?token=${encodeURIComponent(token)}`,
    `Authorization: Basic ${Buffer.from(`user:${token}`).toString('base64')}`,
    `b64url ${Buffer.from(`x${token}`).toString('base64url')}`,
    `SHOUTED ${token.toUpperCase()}`,
    `hex ${Buffer.from(token).toString('hex')}`,
  ];
  for (const line of lines) {
    const masked = vault.mask(line);
    assert.ok(masked.includes(MASK), `masked: ${line} → ${masked}`);
    assert.ok(!masked.toLowerCase().includes(token.toLowerCase()), masked);
  }
  assert.equal(vault.mask('nothing secret here, hf_ and all'), 'nothing secret here, hf_ and all');
  await vault.delete('hf_token');
  assert.equal(vault.mask(`token=${token}`), `token=${token}`, 'a deleted secret is no longer masked');
  await store.close();
});

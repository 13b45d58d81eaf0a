import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { newWebhookSecret, signWebhook, verifyWebhook } from './webhook-signature.ts';

const BODY = '{"request_id":"a123","type":"async_request_completed","data":{"output":[1,2,3]}}';

test('a new secret is whsec_ and 32 random bytes in base64url, different each time', () => {
  const a = newWebhookSecret();
  const b = newWebhookSecret();
  assert.match(a, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(a.slice('whsec_'.length), 'base64url').length, 32);
  assert.notEqual(a, b);
});

test('the header is v1=<hex HMAC-SHA256 of the raw body> per secret, comma-separated', () => {
  const [one, two] = [newWebhookSecret(), newWebhookSecret()];
  const header = signWebhook(BODY, [one, two]);
  const hex = (secret: string) => createHmac('sha256', secret).update(BODY).digest('hex');
  assert.equal(header, `v1=${hex(one)},v1=${hex(two)}`);
  assert.equal(signWebhook(Buffer.from(BODY), [one]), `v1=${hex(one)}`);
});

test('while a secret rotates, a receiver holding either secret verifies the body', () => {
  const [old, fresh] = [newWebhookSecret(), newWebhookSecret()];
  const header = signWebhook(BODY, [old, fresh]);
  assert.equal(verifyWebhook(BODY, header, old), true);
  assert.equal(verifyWebhook(Buffer.from(BODY), header, fresh), true);
  assert.equal(verifyWebhook(BODY, header.replace(',', ' , '), fresh), true);
  assert.equal(verifyWebhook(BODY, header, newWebhookSecret()), false);
});

test('a tampered body, a tampered signature or a missing header does not verify', () => {
  const secret = newWebhookSecret();
  const header = signWebhook(BODY, [secret]);
  assert.equal(verifyWebhook(BODY.replace('[1,2,3]', '[1,2,4]'), header, secret), false);
  assert.equal(verifyWebhook(BODY + ' ', header, secret), false);
  const flipped = header.slice(0, -1) + (header.endsWith('0') ? '1' : '0');
  assert.equal(verifyWebhook(BODY, flipped, secret), false);
  assert.equal(verifyWebhook(BODY, header.slice(0, -2), secret), false);
  assert.equal(verifyWebhook(BODY, header.replace('v1=', 'v0='), secret), false);
  assert.equal(verifyWebhook(BODY, 'v1=zz', secret), false);
  assert.equal(verifyWebhook(BODY, '', secret), false);
  assert.equal(verifyWebhook(BODY, undefined, secret), false);
});

test('signing with no secret is a fault, not an unsigned webhook', () => {
  assert.throws(() => signWebhook(BODY, []), /no webhook secret/);
});

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import type { WebhookDeliveryInput } from './webhook-delivery.ts';
import {
  WEBHOOK_MAX_ATTEMPTS,
  deliverWebhook,
  webhookOutcome,
  webhookRequestOptions,
  webhookRetryDelayMs,
} from './webhook-delivery.ts';
import { newWebhookSecret, verifyWebhook } from './webhook-signature.ts';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
const received: Received[] = [];
/** What the receiver does with the next request; it records every request it reads. */
let answer: (res: ServerResponse) => void = (res) => res.end('ok');

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push({
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    });
    answer(res);
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
after(() => {
  server.closeAllConnections();
  server.close();
});

const SECRETS = [newWebhookSecret(), newWebhookSecret()];
const BODY = JSON.stringify({ request_id: 'a1', type: 'async_request_completed', data: { output: 42 } });

function input(over: Partial<WebhookDeliveryInput> = {}): WebhookDeliveryInput {
  return {
    url: `http://127.0.0.1:${port}/hooks/plinth?tenant=7`,
    body: BODY,
    requestId: 'a1',
    secrets: SECRETS,
    allowPrivate: true,
    timeoutMs: 5_000,
    ...over,
  };
}

test('a 2xx is delivered: a POST of the raw JSON body, its request id, and a signature either secret verifies', async () => {
  received.length = 0;
  answer = (res) => res.writeHead(204).end();
  const result = await deliverWebhook(input());
  assert.deepEqual(result, {
    outcome: 'delivered',
    status: 204,
    message: `webhook http://127.0.0.1:${port}/hooks/plinth?tenant=7 answered 204`,
  });
  const [got] = received;
  assert.equal(got?.method, 'POST');
  assert.equal(got?.url, '/hooks/plinth?tenant=7');
  assert.equal(got?.body, BODY);
  assert.equal(got?.headers['content-type'], 'application/json');
  assert.equal(got?.headers['x-plinth-request-id'], 'a1');
  assert.equal(got?.headers.host, `127.0.0.1:${port}`);
  const signature = got?.headers['x-plinth-signature'] as string;
  assert.match(signature, /^v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
  for (const secret of SECRETS) assert.equal(verifyWebhook(got!.body, signature, secret), true);
  assert.equal(verifyWebhook(got!.body, signature, newWebhookSecret()), false);
});

test('5xx and 429 are retried; the message has the first of what the receiver said', async () => {
  answer = (res) => res.writeHead(500).end('database\nis down');
  const five = await deliverWebhook(input());
  assert.equal(five.outcome, 'retry');
  assert.equal(five.status, 500);
  assert.match(five.message, /answered 500: database is down$/);
  answer = (res) => res.writeHead(429, { 'retry-after': '1' }).end();
  assert.deepEqual(await deliverWebhook(input()).then((r) => [r.outcome, r.status]), ['retry', 429]);
});

test('any other 4xx fails for good (the receiver refused it); a redirect is not followed', async () => {
  answer = (res) => res.writeHead(404).end('no such hook');
  const result = await deliverWebhook(input());
  assert.deepEqual([result.outcome, result.status], ['failed', 404]);
  assert.match(result.message, /answered 404 \(the receiver refused it\): no such hook$/);
  received.length = 0;
  answer = (res) => res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
  const moved = await deliverWebhook(input());
  assert.deepEqual([moved.outcome, moved.status], ['failed', 302]);
  assert.match(moved.message, /redirects are not followed/);
  assert.equal(received.length, 1);
});

test('a receiver that never answers is retried once timeoutMs has passed', async () => {
  answer = () => {}; // reads the request, never answers
  const result = await deliverWebhook(input({ timeoutMs: 200 }));
  assert.deepEqual(result, {
    outcome: 'retry',
    status: null,
    message: `webhook ${input().url}: no answer within 200 ms`,
  });
});

test('a connection refused is retried', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const result = await deliverWebhook(input({ url: `http://127.0.0.1:${closedPort}/` }));
  assert.deepEqual([result.outcome, result.status], ['retry', null]);
  assert.match(result.message, /ECONNREFUSED/);
});

test('an endless answer is read up to 64 KiB, then the connection is closed', async () => {
  let written = 0;
  let finished = false;
  const closed = new Promise<void>((resolve) => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => {
        while (!res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) break;
        }
      };
      res.on('drain', pump);
      res.on('finish', () => (finished = true));
      res.on('close', () => resolve());
      pump();
    };
  });
  const result = await deliverWebhook(input({ timeoutMs: 30_000 }));
  await closed;
  assert.equal(result.outcome, 'delivered');
  assert.equal(result.status, 200);
  assert.match(result.message, /answered 200 \(answer over 64 KiB, not read\)$/);
  assert.equal(finished, false);
  // Only what the socket buffers held was ever written: the client stopped reading and hung up.
  assert.ok(written < 32 * 1024 * 1024, `the receiver wrote ${written} bytes`);
});

test('private targets are refused unless allowed: failed, naming loopback, and nothing is sent', async () => {
  received.length = 0;
  answer = (res) => res.end('ok');
  const result = await deliverWebhook(input({ allowPrivate: false }));
  assert.equal(result.outcome, 'failed');
  assert.equal(result.status, null);
  assert.match(
    result.message,
    /^webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/plinth\?tenant=7: a loopback address: refused/,
  );
  assert.equal(received.length, 0);
  const ftp = await deliverWebhook(input({ url: 'ftp://example.com/hook' }));
  assert.deepEqual([ftp.outcome, ftp.status], ['failed', null]);
});

test('it connects to the address that was checked, the name resolved once, and sends the name as Host', async () => {
  received.length = 0;
  answer = (res) => res.end('ok');
  const asked: string[] = [];
  const lookup = async (hostname: string) => {
    asked.push(hostname);
    return [{ address: '127.0.0.1', family: 4 }];
  };
  const result = await deliverWebhook(input({ url: `http://hooks.example:${port}/in`, lookup }));
  assert.equal(result.outcome, 'delivered');
  assert.deepEqual(asked, ['hooks.example']);
  assert.equal(received[0]?.headers.host, `hooks.example:${port}`);
  assert.equal(received[0]?.url, '/in');
});

test('a name that does not resolve now is retried', async () => {
  const lookup = async () => {
    throw Object.assign(new Error('getaddrinfo EAI_AGAIN hooks.example'), { code: 'EAI_AGAIN' });
  };
  const result = await deliverWebhook(input({ url: 'https://hooks.example/in', lookup }));
  assert.deepEqual([result.outcome, result.status], ['retry', null]);
  assert.match(result.message, /hooks\.example does not resolve \(EAI_AGAIN\)/);
});

test('https: the checked address is dialled with the name as Host and TLS server name', () => {
  const options = webhookRequestOptions(new URL('https://hooks.example/in?x=1'), '93.184.216.34', {}) as {
    host: string;
    port: number;
    path: string;
    servername?: string;
    headers: Record<string, string>;
  };
  assert.equal(options.host, '93.184.216.34');
  assert.equal(options.port, 443);
  assert.equal(options.path, '/in?x=1');
  assert.equal(options.servername, 'hooks.example');
  assert.equal(options.headers.host, 'hooks.example');
  const literal = webhookRequestOptions(new URL('https://[2606:4700::1111]:8443/'), '2606:4700::1111', {});
  assert.equal((literal as { servername?: string }).servername, undefined); // no SNI for an IP
  assert.equal(literal.port, '8443');
});

test('statuses: 2xx delivered; 5xx, 429 and 408 retried; the rest failed', () => {
  assert.deepEqual(
    [200, 201, 204, 299, 500, 502, 503, 429, 408, 400, 401, 403, 404, 410, 422, 301].map(webhookOutcome),
    [...Array(4).fill('delivered'), ...Array(5).fill('retry'), ...Array(7).fill('failed')],
  );
});

test('the retry schedule grows, then stays at its longest wait; there are at most 8 tries', () => {
  const delays = Array.from({ length: WEBHOOK_MAX_ATTEMPTS - 1 }, (_, i) => webhookRetryDelayMs(i + 1));
  assert.deepEqual(delays, [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000]);
  assert.equal(WEBHOOK_MAX_ATTEMPTS, 8);
  assert.equal(webhookRetryDelayMs(20), 3_600_000);
  assert.equal(webhookRetryDelayMs(0), 1_000);
});

// e2e: requests served by a `plinth gateway` (no control loops, no replicas of its own) are
// measured: they show in the gateway's own /metrics, and in the API's series of the deployment and
// of its environment, added to what the control plane itself served.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTestDatabase } from '../support/postgres-database.ts';
import type { TestDatabase } from '../support/postgres-database.ts';
import { until } from '../support/wait.ts';
import { startPlatform } from './harness.ts';
import type { Background, Platform } from './harness.ts';

let database: TestDatabase | undefined;
let platform: Platform | undefined;
let gateway: Background | undefined;
after(async () => {
  await gateway?.stop();
  await platform?.stop();
  await database?.drop();
});

test('requests through `plinth gateway` are counted in its /metrics and in the series of the API', async () => {
  database = await createTestDatabase();
  platform = await startPlatform(undefined, ['--store', database.url]);
  const pushed = await platform.cli(['push', 'examples/hello']);
  assert.equal(pushed.code, 0, pushed.stderr);
  gateway = platform.background(['gateway', '--store', database.url, '--port', '0']);
  await gateway.waitFor(/serving inference at http:\/\/\S+/);
  const gatewayUrl = /serving inference at (http:\/\/\S+)/.exec(gateway.output())![1]!;
  const call = async (base: string): Promise<number> =>
    (
      await fetch(`${base}/models/hello/production/predict`, {
        method: 'POST',
        body: JSON.stringify({ text: 'counted' }),
        headers: { authorization: `Api-Key ${platform!.apiKey}` },
      })
    ).status;
  for (let i = 0; i < 50; i++) assert.equal(await call(gatewayUrl), 200);
  for (let i = 0; i < 5; i++) assert.equal(await call(platform.url), 200);

  const exposition = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const counted = [...exposition.matchAll(/^plinth_inference_requests_total\{[^}]*\} (\d+)$/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
  assert.equal(counted, 50, "the gateway's own /metrics");

  type Series = { points: { requests: Record<string, number> }[] };
  const total = (s: Series): number =>
    s.points.reduce((sum, p) => sum + Object.values(p.requests).reduce((a, b) => a + b, 0), 0);
  // The gateway writes its series every 10 s; the API adds them to the control plane's own.
  for (const path of ['deployments/production', 'environments/production']) {
    await until(
      `the ${path} series to count every request`,
      async () =>
        total((await platform!.api<Series>('GET', `/v1/models/hello/${path}/metrics?since=10m`)).body),
      (n) => n === 55,
      40_000,
      500,
    );
  }
});

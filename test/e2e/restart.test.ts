// e2e: state lives in the store, so a restarted server brings its deployments back.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform | undefined;
after(async () => {
  await platform?.stop();
});

test('after a restart the deployment is served again from the same home, with the same key', async () => {
  const first = await startPlatform();
  platform = first;
  const pushed = await first.cli(['push', 'examples/hello', '--output', 'json']);
  assert.equal(pushed.code, 0, pushed.stderr);
  const { deployment_id } = JSON.parse(pushed.stdout) as { deployment_id: string };
  const replicasBefore = await first.api<{ replicas: { id: string }[] }>(
    'GET',
    `/v1/models/hello/deployments/${deployment_id}/replicas`,
  );
  await first.stop({ keepHome: true });

  const second = await startPlatform(first.home);
  platform = second;
  assert.equal(second.apiKey, first.apiKey, 'the admin key survives the restart');
  assert.doesNotMatch(second.output(), /Admin API key \(shown once/);
  // A request sent right away waits for the replica instead of failing.
  const res = await fetch(`${second.url}/models/hello/production/predict`, {
    method: 'POST',
    body: '{"text":"back again"}',
  });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { words: number }).words, 2);
  const d = await second.api<{ status: string }>('GET', `/v1/models/hello/deployments/${deployment_id}`);
  assert.equal(d.body.status, 'ACTIVE');
  const replicas = await second.api<{ replicas: { id: string; status: string }[] }>(
    'GET',
    `/v1/models/hello/deployments/${deployment_id}/replicas`,
  );
  assert.equal(replicas.body.replicas.length, 1, 'only live replicas are listed');
  assert.notEqual(replicas.body.replicas[0]!.id, replicasBefore.body.replicas[0]!.id);
});

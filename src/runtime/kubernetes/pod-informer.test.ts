// The pod informer against the fake API server (behind a proxy that can cut its watch): it tells
// what there is, then what changes; after a broken watch it lists again — a pod gone meanwhile is
// told as DELETED — and watches anew; once closed it tells nothing and keeps nothing.
import { sleep, until } from '../../../test/support/wait.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { FakeKubernetes } from '../../../test/support/kubernetes/fake-api-server.ts';
import { ApiProxy } from '../../../test/support/kubernetes/api-proxy.ts';
import { kubeConfigAt } from '../../../test/support/kubernetes/backend-rig.ts';
import { PodInformer } from './pod-informer.ts';

const NS = 'ns';
const pod = (name: string, phase = 'Pending') => ({
  metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'plinth' } },
  spec: { containers: [{ name: 'model' }] },
  status: { phase },
});

test('a pod informer tells what there is and what changes, lists again after a broken watch, and stops when closed', async () => {
  const api = new FakeKubernetes();
  const proxy = new ApiProxy(await api.start());
  const heard: string[] = [];
  const informer = new PodInformer({
    kubeConfig: kubeConfigAt(await proxy.start()),
    namespace: NS,
    labelSelector: 'app.kubernetes.io/managed-by=plinth',
    onEvent: (type, p: V1Pod) => heard.push(`${type} ${p.metadata?.name} ${p.status?.phase ?? ''}`),
    relistDelayMs: 10,
    retryDelayMs: 50,
  });
  const told = (n: number, what: string): Promise<boolean> =>
    until(what, () => heard.length >= n, Boolean, 10_000, 50);
  const names = (): string[] => informer.pods().map((p) => p.metadata!.name!);
  try {
    api.put('pods', NS, pod('p-1'));
    await informer.start();
    assert.deepEqual(heard, ['ADDED p-1 Pending'], 'what is there, before start() resolves');
    assert.deepEqual(names(), ['p-1']);

    api.put('pods', NS, pod('p-2'));
    api.setStatus('pods', NS, 'p-1', { phase: 'Running' });
    api.remove('pods', NS, 'p-2');
    await told(4, 'the changes');
    assert.deepEqual(heard.slice(1), ['ADDED p-2 Pending', 'MODIFIED p-1 Running', 'DELETED p-2 Pending']);
    assert.deepEqual(names(), ['p-1']);
    assert.equal(informer.get('p-1')?.status?.phase, 'Running', 'the cache holds the latest');

    // The watch breaks, and the API server cannot be reached for a while; meanwhile p-1 goes and
    // p-3 comes. Listing again tells both, then the new watch goes on.
    proxy.down = true;
    proxy.cutWatches();
    api.remove('pods', NS, 'p-1');
    api.put('pods', NS, pod('p-3'));
    await sleep(200);
    assert.equal(heard.length, 4, 'nothing heard while the API server is away');
    proxy.down = false;
    await told(6, 'what changed while the watch was broken');
    assert.deepEqual(heard.slice(4), ['DELETED p-1 Running', 'ADDED p-3 Pending']);
    assert.deepEqual(names(), ['p-3']);
    api.setStatus('pods', NS, 'p-3', { phase: 'Running' });
    await told(7, 'a change after the new watch started');
    assert.equal(heard[6], 'MODIFIED p-3 Running');

    informer.close();
    assert.equal(informer.size, 0, 'closed: it keeps nothing');
    api.put('pods', NS, pod('p-4'));
    proxy.cutWatches();
    await sleep(200);
    assert.equal(heard.length, 7, 'closed: it tells nothing, and lists nothing again');
  } finally {
    informer.close();
    await proxy.close();
    await api.close();
  }
});

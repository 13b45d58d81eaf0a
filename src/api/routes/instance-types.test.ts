// GET /v1/instance_type_prices answers every type of the catalog with its price in the hosted
// platforms' shape (price in USD per minute) and ours beside it (USD per hour).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { BUILT_IN_INSTANCE_TYPES, mergeCatalog } from '../../domain/instance-types.ts';
import { instanceTypeRoutes } from './instance-types.ts';

const GiB = 1024 ** 3;
const catalog = mergeCatalog(BUILT_IN_INSTANCE_TYPES, [
  { name: 'tiny', cpuMillis: 500, memoryBytes: GiB / 8, accelerator: null, pricePerHour: null },
]);

async function prices() {
  const app = Fastify();
  instanceTypeRoutes(app, { instanceTypes: catalog });
  const res = await app.inject({ method: 'GET', url: '/v1/instance_type_prices' });
  await app.close();
  assert.equal(res.statusCode, 200);
  return (res.json() as { instance_types: Record<string, unknown>[] }).instance_types;
}

test('each instance type answers its price per minute and per hour, with the type described', async () => {
  const list = await prices();
  assert.equal(list.length, catalog.length, 'every type of the catalog');
  assert.deepEqual(
    list.find((p) => p.instance_type_name === 'L4:4x16'),
    {
      instance_type: {
        id: 'L4:4x16',
        name: 'L4:4x16',
        memory_limit_mib: 16 * 1024,
        millicpu_limit: 4000,
        gpu_count: 1,
        gpu_type: 'L4',
        gpu_memory_limit_mib: 24 * 1024,
      },
      price: 0.014167,
      instance_type_name: 'L4:4x16',
      price_per_hour_usd: 0.85,
    },
  );
  const cpu = list.find((p) => p.instance_type_name === '1x2')!;
  assert.deepEqual(cpu.instance_type, {
    id: '1x2',
    name: '1x2',
    memory_limit_mib: 2048,
    millicpu_limit: 1000,
    gpu_count: 0,
    gpu_type: null,
    gpu_memory_limit_mib: null,
  });
  assert.equal(cpu.price_per_hour_usd, 0.05);
  assert.equal(cpu.price, 0.000833);
});

test("a type the catalog has no price for answers null prices, and the per-minute price follows the hour's", async () => {
  const list = await prices();
  const tiny = list.find((p) => p.instance_type_name === 'tiny')!;
  assert.equal(tiny.price, null);
  assert.equal(tiny.price_per_hour_usd, null);
  for (const p of list) {
    if (p.price_per_hour_usd === null) continue;
    assert.ok(
      Math.abs((p.price as number) * 60 - (p.price_per_hour_usd as number)) < 1e-4,
      `${String(p.instance_type_name)}: ${String(p.price)}/min vs ${String(p.price_per_hour_usd)}/h`,
    );
  }
});

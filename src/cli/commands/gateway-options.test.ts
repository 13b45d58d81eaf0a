// The inference options as settings: --gateway-workers falls back to $PLINTH_GATEWAY_WORKERS, and
// the flag wins over it.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Command } from 'commander';
import { addGatewayOptions, gatewaySettingsOf } from './gateway-options.ts';
import type { GatewayFlags } from './gateway-options.ts';

const saved = process.env.PLINTH_GATEWAY_WORKERS;
afterEach(() => {
  if (saved === undefined) delete process.env.PLINTH_GATEWAY_WORKERS;
  else process.env.PLINTH_GATEWAY_WORKERS = saved;
});

function flags(argv: string[]): GatewayFlags {
  const command = addGatewayOptions(new Command('up').exitOverride());
  command.parse(argv, { from: 'user' });
  return command.opts<GatewayFlags>();
}

test('--gateway-workers: the flag, else $PLINTH_GATEWAY_WORKERS, else nothing (the default, 1)', () => {
  delete process.env.PLINTH_GATEWAY_WORKERS;
  assert.equal(gatewaySettingsOf(flags([])).gatewayWorkers, undefined);
  assert.equal(gatewaySettingsOf(flags(['--gateway-workers', '4'])).gatewayWorkers, '4');
  process.env.PLINTH_GATEWAY_WORKERS = '3';
  assert.equal(gatewaySettingsOf(flags([])).gatewayWorkers, '3');
  assert.equal(gatewaySettingsOf(flags(['--gateway-workers', '2'])).gatewayWorkers, '2');
  process.env.PLINTH_GATEWAY_WORKERS = '';
  assert.equal(gatewaySettingsOf(flags([])).gatewayWorkers, undefined, 'an empty variable is unset');
});

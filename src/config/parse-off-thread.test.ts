// Parsing a config off the event loop: the server's loop keeps turning while a heavy config is
// read, a refusal is the parser's own error, and a config that takes too long is cut off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigOffThread } from './parse-off-thread.ts';

test('the event loop keeps turning while a heavy config is parsed, and the result is the parser’s', async () => {
  const keys = Array.from({ length: 9_000 }, (_, i) => `  k${i}: ${i}`).join('\n');
  let turns = 0;
  const ticker = setInterval(() => turns++, 1);
  const parsed = await parseConfigOffThread(`model_name: heavy\nmodel_metadata:\n${keys}\n`);
  clearInterval(ticker);
  assert.equal(parsed.config.model_name, 'heavy');
  assert.equal(Object.keys(parsed.config.model_metadata ?? {}).length, 9_000);
  assert.ok(turns > 0, 'timers on the main thread ran during the parse');
});

test("a refused config is the parser's error; one that takes too long is cut off", async () => {
  await assert.rejects(parseConfigOffThread('model_nme: x\n'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.match(err.message, /unknown key "model_nme" — did you mean "model_name"\?/);
    return true;
  });
  await assert.rejects(parseConfigOffThread('model_name: x\n', 'config.yaml', 1), /took longer than/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDurationS, parseDurationS } from './duration.ts';

test('durations are read in seconds from s, m, h, d or a bare number', () => {
  assert.equal(parseDurationS('90s'), 90);
  assert.equal(parseDurationS('30m'), 1800);
  assert.equal(parseDurationS('12h'), 43_200);
  assert.equal(parseDurationS('14d'), 1_209_600);
  assert.equal(parseDurationS('45'), 45);
  assert.equal(parseDurationS('1.5h'), 5400);
  for (const bad of ['', '0s', '-3s', '3w', 'soon', '3 days', '1e3'])
    assert.equal(parseDurationS(bad), null, bad);
});

test('durations are written in the largest unit that holds them whole', () => {
  assert.equal(formatDurationS(1_209_600), '14d');
  assert.equal(formatDurationS(3), '3s');
  assert.equal(formatDurationS(90), '90s');
  assert.equal(formatDurationS(5400), '90m');
  assert.equal(formatDurationS(7200), '2h');
  for (const text of ['14d', '3s', '90s', '2h', '45m'])
    assert.equal(formatDurationS(parseDurationS(text)!), text);
});

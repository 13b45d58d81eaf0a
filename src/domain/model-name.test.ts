import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_MODEL_NAME_LENGTH, modelNameKey, modelNameProblem } from './model-name.ts';

test('names Truss takes are model names', () => {
  for (const name of [
    'basic truss',
    'My Model v2',
    'Llama-3.1 (8B) — instruct!',
    'sentiment',
    'é',
    'x'.repeat(128),
  ]) {
    assert.equal(modelNameProblem(name), undefined, name);
  }
});

test('empty, too long, control characters, outer whitespace and "/" are refused with the reason', () => {
  assert.match(modelNameProblem('')!, /empty/);
  assert.match(modelNameProblem('x'.repeat(MAX_MODEL_NAME_LENGTH + 1))!, /longer than 128/);
  assert.match(modelNameProblem('a\nb')!, /control character/);
  assert.match(modelNameProblem('a\u0000')!, /control character/);
  assert.match(modelNameProblem('tab\there')!, /control character/);
  assert.match(modelNameProblem(' leading')!, /whitespace/);
  assert.match(modelNameProblem('trailing ')!, /whitespace/);
  assert.match(modelNameProblem('a/b')!, /"\/"/);
  // Invisible characters would let two names look alike, or a name rewrite its line.
  assert.match(modelNameProblem('My Model\u200B')!, /invisible formatting/);
  assert.match(modelNameProblem('a\u202Eb')!, /invisible formatting/);
  // URLs collapse "." and ".." segments, percent-encoded or not.
  assert.match(modelNameProblem('.')!, /only dots/);
  assert.match(modelNameProblem('..')!, /only dots/);
  assert.equal(modelNameProblem('v1.2'), undefined);
});

test('the uniqueness key ignores case and Unicode composition', () => {
  assert.equal(modelNameKey('My Model v2'), modelNameKey('my model V2'));
  assert.equal(modelNameKey('Caf\u00e9'), modelNameKey('cafe\u0301'));
  assert.notEqual(modelNameKey('model a'), modelNameKey('model b'));
});

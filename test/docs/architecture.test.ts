// docs/architecture.md's tables are the code's: the rooms (and what each may import, as the lint
// rule enforces it) and the state machine's legal moves. And every relative link in the README and
// docs/ leads to a file of the repository.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { ARCHITECTURE_DOC, regenerate } from '../../scripts/architecture-doc.ts';

const REPO = resolve(dirname(ARCHITECTURE_DOC), '..');

test('the generated tables of docs/architecture.md agree with the code (npm run docs regenerates them)', () => {
  const doc = readFileSync(ARCHITECTURE_DOC, 'utf8');
  assert.equal(doc, regenerate(doc), 'run `npm run docs` and commit docs/architecture.md');
});

test('every relative link in README.md and docs/ leads to a file in the repository', () => {
  const pages = ['README.md', ...readdirSync(join(REPO, 'docs')).map((f) => join('docs', f))].filter((f) =>
    f.endsWith('.md'),
  );
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(join(REPO, page), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue;
      const file = resolve(REPO, dirname(page), target!.split('#')[0]!);
      if (!file.startsWith(REPO + '/') || !existsSync(file)) broken.push(`${page}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

#!/usr/bin/env node
// The `plinth` command: runs the bundled CLI from dist/ when it is up to date with src/, else the
// TypeScript sources through tsx (during development, or before the first build).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFresh } from './dist-freshness.mjs';
import { tuneHeapForServing } from './serving-heap.mjs';

// Before anything else is loaded: a serving process runs without V8's pretenuring.
tuneHeapForServing(process.argv[2]);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// A replica pod's init container: only what fetching a build needs, not the whole CLI.
const fetching = process.argv[2] === 'fetch-artifacts' && !process.argv.includes('--help');
if (fetching && isFresh(join(root, 'dist', 'fetch-artifacts.mjs'), join(root, 'src'))) {
  await import('../dist/fetch-artifacts.mjs');
} else if (isFresh(join(root, 'dist', 'cli.mjs'), join(root, 'src'))) {
  await import('../dist/cli.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}

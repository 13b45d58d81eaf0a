// Plinth's three images as the fake cluster's kubelet runs them: the same wrapper scripts the
// Dockerfiles under deploy/images install, pointed at this checkout instead of /opt/plinth.
import { join } from 'node:path';
import { packageRoot } from '../../../src/package-root.ts';
import type { ImageTable } from './fake-kubelet.ts';

export const TEST_IMAGES = {
  node: 'plinth/runtime-node:test',
  python: 'plinth/runtime-python:test',
  fetcher: 'plinth/server:test',
};

export function plinthImageTable(): ImageTable {
  const root = packageRoot();
  const bin = (name: string): string[] => ['sh', join(root, 'deploy', 'images', 'bin', name)];
  const env = { PLINTH_ROOT: root };
  const base = { sleep: ['sleep'], sh: ['sh'] };
  return {
    'plinth/runtime-node': { commands: { ...base, 'plinth-replica-node': bin('plinth-replica-node') }, env },
    'plinth/runtime-python': {
      commands: { ...base, 'plinth-replica-python': bin('plinth-replica-python') },
      env,
    },
    'plinth/server': {
      commands: { ...base, plinth: [process.execPath, join(root, 'bin', 'plinth.js')] },
      env,
    },
  };
}

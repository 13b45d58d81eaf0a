import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackendSuite } from '../backend-suite.ts';
import { LocalBackend } from './local-backend.ts';

runBackendSuite('local', async () => {
  const root = mkdtempSync(join(tmpdir(), 'plinth-local-'));
  let n = 0;
  return {
    backend: new LocalBackend({ onLog: () => {} }),
    specFor(source, deploymentId = 'd-test') {
      const appDir = join(root, `app-${++n}`);
      mkdirSync(join(appDir, 'model'), { recursive: true });
      writeFileSync(join(appDir, 'model', 'model.mjs'), source);
      return {
        replicaId: `r-${n}`,
        deploymentId,
        modelId: 'm-test',
        language: 'typescript',
        appDir,
        modelFile: 'model/model.mjs',
        config: { runtime: { predict_concurrency: 4 } },
        env: {},
        envDir: null,
      };
    },
    async cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
});

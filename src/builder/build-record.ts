// Where a deployment's build is found: in its record in the store (`build`, written with the status
// move that ends the build, or with the revision a development patch bumps). Deployments built
// before builds were stored there have it in `build.json` beside their app directory.
import { existsSync, readFileSync } from 'node:fs';
import type { BuildRecord, Deployment } from '../domain/types.ts';
import type { PlinthHome } from '../home.ts';

/** The build of the deployment's current revision, or undefined while it has none. */
export function currentBuild(d: Pick<Deployment, 'id' | 'build'>, home: PlinthHome): BuildRecord | undefined {
  if (d.build) return d.build;
  const file = home.buildRecord(d.id);
  if (!existsSync(file)) return undefined;
  const legacy = JSON.parse(readFileSync(file, 'utf8')) as Partial<BuildRecord>;
  return { ...legacy, appDir: legacy.appDir ?? home.appDir(d.id) } as BuildRecord;
}

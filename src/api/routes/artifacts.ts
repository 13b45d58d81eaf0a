// /v1/models/{m}/deployments/{d}/artifacts/{part}: a deployment's build — its app directory (`app`),
// its prepared environment (`environment`) or Truss's base environment layered under that one
// (`base-environment`) — as a gzip tarball, for the init container of a replica's pod on Kubernetes
// (`plinth fetch-artifacts`): the build of its current revision. A pod names the revision it runs
// (`?revision=`; one no longer current is not served) and its environments (`?name=`).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { archiveDirectory } from '../../bundle/directory-archive.ts';
import { currentBuild } from '../../builder/build-record.ts';
import { isPythonBaseReady } from '../../builder/python-base.ts';
import { PlinthError } from '../../domain/errors.ts';
import type { Deployment } from '../../domain/types.ts';
import type { PlinthHome } from '../../home.ts';
import type { ApiContext } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';
import { readManifest } from '../../weights/place.ts';

export function artifactRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const home = ctx.home;
  app.get<{ Params: { m: string; d: string; part: string }; Querystring: ArtifactQuery }>(
    '/v1/models/:m/deployments/:d/artifacts/:part',
    { config: { summary: "A deployment's built app directory or prepared environment (gzip tarball)" } },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const part = req.params.part;
      if (!Object.hasOwn(PARTS, part))
        throw new PlinthError(
          'BAD_REQUEST',
          `"${part}" is not an artifact: ask for "app", "environment" or "base-environment"`,
        );
      const dir = artifactDir(home, d, part, req.query);
      // A base environment is served only whole (ready), never while it is being prepared.
      if (!dir || !existsSync(dir) || (part === 'base-environment' && !isPythonBaseReady(dir)))
        throw new PlinthError(
          'NOT_FOUND',
          `deployment ${d.id} has no ${PARTS[part as keyof typeof PARTS]}${
            req.query.revision || req.query.name ? ' by that name' : ` (status ${d.status})`
          }`,
        );
      reply.type('application/gzip');
      // Weights and data are not in the app: a pod fetches them by sha256 (/v1/weights/…) into its cache volume.
      const weights = part === 'app' ? new Set(readManifest(dir).map((f) => f.path)) : undefined;
      return reply.send(archiveDirectory(dir, weights));
    },
  );
}

const PARTS = {
  app: 'app directory',
  environment: 'prepared environment',
  'base-environment': 'base environment',
} as const;

interface ArtifactQuery {
  revision?: string;
  name?: string;
}

const REVISION = /^\d{1,9}$/;
const ENVIRONMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function artifactDir(home: PlinthHome, d: Deployment, part: string, q: ArtifactQuery): string | null {
  if (part === 'app' && q.revision !== undefined) {
    if (!REVISION.test(q.revision))
      throw new PlinthError('BAD_REQUEST', `revision "${q.revision}" is not a revision number`);
    // Only the revision the deployment runs now is served: a pod of an older one is being replaced.
    if (Number(q.revision) !== d.revision) return null;
  }
  if (part !== 'app' && q.name !== undefined) {
    if (!ENVIRONMENT.test(q.name) || q.name.includes('..'))
      throw new PlinthError('BAD_REQUEST', `"${q.name}" is not a prepared environment's name`);
    return join(part === 'environment' ? home.environments : home.pythonBase, q.name);
  }
  const build = currentBuild(d, home);
  if (!build) return null;
  return part === 'app' ? build.appDir : part === 'environment' ? build.envDir : (build.baseEnvDir ?? null);
}

// /v1/models/{m}/deployments/{d}/artifacts/{part}: a deployment's build — its app directory (`app`)
// or its prepared environment (`environment`) — as a gzip tarball, for the init container of a
// replica's pod on Kubernetes (`plinth fetch-artifacts`). Without a query, its current build; a
// development deployment's patch names its revision (`?revision=`) and environment (`?name=`),
// since its new replica starts before the build is recorded as the deployment's.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { archiveDirectory } from '../../bundle/directory-archive.ts';
import { readBuildRecord } from '../../builder/build-record.ts';
import { PlinthError } from '../../domain/errors.ts';
import type { PlinthHome } from '../../home.ts';
import type { ApiContext } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';

export function artifactRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const home = ctx.home;
  app.get<{ Params: { m: string; d: string; part: string }; Querystring: ArtifactQuery }>(
    '/v1/models/:m/deployments/:d/artifacts/:part',
    { config: { summary: "A deployment's built app directory or prepared environment (gzip tarball)" } },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const part = req.params.part;
      if (part !== 'app' && part !== 'environment')
        throw new PlinthError('BAD_REQUEST', `"${part}" is not an artifact: ask for "app" or "environment"`);
      const dir = artifactDir(home, d.id, part, req.query);
      if (!dir || !existsSync(dir))
        throw new PlinthError(
          'NOT_FOUND',
          `deployment ${d.id} has no ${part === 'app' ? 'app directory' : 'prepared environment'}${
            req.query.revision || req.query.name ? ' by that name' : ` (status ${d.status})`
          }`,
        );
      reply.type('application/gzip');
      return reply.send(archiveDirectory(dir));
    },
  );
}

interface ArtifactQuery {
  revision?: string;
  name?: string;
}

const REVISION = /^\d+-[0-9a-f]+$/;
const ENVIRONMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function artifactDir(home: PlinthHome, deploymentId: string, part: string, q: ArtifactQuery): string | null {
  if (part === 'app' && q.revision !== undefined) {
    if (!REVISION.test(q.revision))
      throw new PlinthError('BAD_REQUEST', `revision "${q.revision}" is not a revision name`);
    return join(home.deployments, deploymentId, 'revisions', q.revision, 'app');
  }
  if (part === 'environment' && q.name !== undefined) {
    if (!ENVIRONMENT.test(q.name) || q.name.includes('..'))
      throw new PlinthError('BAD_REQUEST', `"${q.name}" is not a prepared environment's name`);
    return join(home.environments, q.name);
  }
  const build = readBuildRecord(home.buildRecord(deploymentId));
  if (!build) return null;
  return part === 'app' ? (build.appDir ?? home.appDir(deploymentId)) : build.envDir;
}

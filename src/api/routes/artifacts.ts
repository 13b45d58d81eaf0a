// /v1/models/{m}/deployments/{d}/artifacts/{part}: a deployment's build — its app directory (`app`)
// or its prepared environment (`environment`) — as a gzip tarball, for the init container of a
// replica's pod on Kubernetes (`plinth fetch-artifacts`).
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { archiveDirectory } from '../../bundle/directory-archive.ts';
import { readBuildRecord } from '../../builder/build-record.ts';
import { PlinthError } from '../../domain/errors.ts';
import type { ApiContext } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';

export function artifactRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const home = ctx.home;
  app.get<{ Params: { m: string; d: string; part: string } }>(
    '/v1/models/:m/deployments/:d/artifacts/:part',
    { config: { summary: "A deployment's built app directory or prepared environment (gzip tarball)" } },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const part = req.params.part;
      if (part !== 'app' && part !== 'environment')
        throw new PlinthError('BAD_REQUEST', `"${part}" is not an artifact: ask for "app" or "environment"`);
      const build = readBuildRecord(home.buildRecord(d.id));
      if (!build)
        throw new PlinthError('NOT_FOUND', `deployment ${d.id} has not been built (status ${d.status})`);
      const dir = part === 'app' ? (build.appDir ?? home.appDir(d.id)) : build.envDir;
      if (!dir || !existsSync(dir))
        throw new PlinthError(
          'NOT_FOUND',
          `deployment ${d.id} has no ${part === 'app' ? 'app directory' : 'prepared environment'}`,
        );
      reply.type('application/gzip');
      return reply.send(archiveDirectory(dir));
    },
  );
}

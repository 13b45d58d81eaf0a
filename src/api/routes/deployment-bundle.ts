// What a deployment was made from: `GET …/deployments/{d}/config` (the config.yaml it runs, as the
// text in its bundle and as parsed) and `GET …/deployments/{d}/download` (its bundle, the very
// tarball that was pushed: pushing it again makes the same deployment, same bundle hash).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { PlinthError } from '../../domain/errors.ts';
import type { ApiContext } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';

type Params = { Params: { m: string; d: string } };

export function deploymentBundleRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<Params>(
    '/v1/models/:m/deployments/:d/config',
    { config: { summary: 'The config.yaml a deployment runs: its text and as parsed' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const file = join(ctx.home.appDir(d.id), 'config.yaml');
      return {
        deployment_id: d.id,
        bundle_sha256: d.bundle_sha256,
        config_yaml: existsSync(file) ? readFileSync(file, 'utf8') : '',
        config: d.config,
      };
    },
  );

  app.get<Params>(
    '/v1/models/:m/deployments/:d/download',
    { config: { summary: "A deployment's bundle: the gzip tarball that was pushed" } },
    async (req, reply) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      if (!ctx.artifacts.has(d.bundle_sha256))
        throw new PlinthError(
          'BUNDLE_NOT_FOUND',
          `the bundle ${d.bundle_sha256} of ${d.name} is no longer stored`,
        );
      const bytes = ctx.artifacts.get(d.bundle_sha256);
      reply
        .type('application/gzip')
        .header(
          'content-disposition',
          `attachment; filename="${d.id}-${d.bundle_sha256.slice(0, 12)}.tar.gz"`,
        )
        .header('x-bundle-sha256', d.bundle_sha256);
      return reply.send(bytes);
    },
  );
}

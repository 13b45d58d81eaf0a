// /v1/bundles/{sha256}: the content-addressed bundle upload. HEAD says whether it is stored;
// PUT stores it after checking that the bytes hash to the name.
import type { FastifyInstance } from 'fastify';
import { ArtifactStore } from '../../bundle/artifact-store.ts';
import { PlinthError } from '../../domain/errors.ts';
import type { ApiContext } from '../context.ts';

export function bundleRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.addContentTypeParser(
    ['application/gzip', 'application/octet-stream', 'application/x-gzip'],
    { parseAs: 'buffer', bodyLimit: ctx.maxBundleBytes },
    (_req, body, done) => done(null, body),
  );

  app.head<{ Params: { sha: string } }>(
    '/v1/bundles/:sha',
    { config: { summary: 'Whether a bundle is stored' } },
    async (req, reply) => {
      reply.code(ctx.artifacts.has(ArtifactStore.checkSha(req.params.sha)) ? 200 : 404).send();
    },
  );

  app.put<{ Params: { sha: string } }>(
    '/v1/bundles/:sha',
    { bodyLimit: ctx.maxBundleBytes, config: { summary: 'Upload a bundle (gzip tarball) under its sha256' } },
    async (req, reply) => {
      if (!Buffer.isBuffer(req.body)) {
        throw new PlinthError(
          'BAD_REQUEST',
          'send the bundle as the raw body with Content-Type: application/gzip',
        );
      }
      const existed = ctx.artifacts.has(ArtifactStore.checkSha(req.params.sha));
      ctx.artifacts.put(req.params.sha, req.body);
      reply.code(existed ? 200 : 201);
      return { sha256: req.params.sha, size: req.body.length };
    },
  );
}

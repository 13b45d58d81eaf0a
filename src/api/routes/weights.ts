// /v1/weights/{sha256}: one file of the shared weights cache, by its content hash, for the init
// container of a replica's pod on Kubernetes (`plinth fetch-artifacts --weights`), which fetches
// what its cache volume lacks (`Range: bytes=N-` resumes one). Only a sha256 names a file: no path
// reaches the disk.
import { createReadStream, statSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { PlinthError } from '../../domain/errors.ts';
import { isSha256 } from '../../weights/cache.ts';
import { WeightsCache } from '../../weights/cache.ts';
import type { ApiContext } from '../context.ts';

export function weightsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const cache = new WeightsCache(ctx.home.weightsCache);
  app.get<{ Params: { sha: string } }>(
    '/v1/weights/:sha',
    { config: { summary: 'A file of the weights cache, by sha256 (for replica pods)' } },
    async (req, reply) => {
      const sha = req.params.sha;
      if (!isSha256(sha)) throw new PlinthError('BAD_REQUEST', `"${sha.slice(0, 80)}" is not a sha256`);
      const path = cache.blobPath(sha);
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        throw new PlinthError('NOT_FOUND', `no weights file with sha256 ${sha}`);
      }
      reply.type('application/octet-stream').header('accept-ranges', 'bytes');
      const from = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = from ? Number(from[1]) : 0;
      if (from && start >= size) {
        reply.code(416).header('content-range', `bytes */${size}`);
        return reply.send('');
      }
      if (from && start > 0) {
        reply.code(206).header('content-range', `bytes ${start}-${size - 1}/${size}`);
        reply.header('content-length', size - start);
        return reply.send(createReadStream(path, { start }));
      }
      reply.header('content-length', size);
      return reply.send(createReadStream(path));
    },
  );
}

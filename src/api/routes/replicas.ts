// /v1/models/{m}/deployments/{d}/replicas…: a deployment's live replicas, and terminating one
// (drained, then stopped; the reconciler starts a replacement while the deployment wants it).
import type { FastifyInstance } from 'fastify';
import { PlinthError } from '../../domain/errors.ts';
import { isId } from '../../domain/ids.ts';
import type { ApiContext } from '../context.ts';
import { findDeployment, findModel } from '../lookup.ts';
import { replicaJson } from '../serialize.ts';
import { requester } from './environments.ts';

type ReplicaParams = { Params: { m: string; d: string; r: string } };

export function replicaRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { m: string; d: string } }>(
    '/v1/models/:m/deployments/:d/replicas',
    { config: { summary: 'Replicas of a deployment' } },
    async (req) => {
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const live = new Map(ctx.backend.list(d.id).map((r) => [r.id, r]));
      const records = await ctx.store.listReplicas({ deployment_id: d.id, live: true });
      return {
        replicas: records.map((r) => replicaJson(r, live.get(r.id), ctx.gateway.inFlightOf(d.id, r.id))),
      };
    },
  );

  app.delete<ReplicaParams>(
    '/v1/models/:m/deployments/:d/replicas/:r',
    { config: { summary: 'Terminate one replica (drained; a replacement starts if still wanted)' } },
    async (req, reply) => {
      const { r } = req.params;
      if (!isId('r', r)) {
        throw new PlinthError(
          'VALIDATION_ERROR',
          `replica id "${r}": expected "r" and 7 characters of a-z and 2-7`,
        );
      }
      const model = await findModel(ctx.store, req.params.m);
      const d = await findDeployment(ctx.store, model, req.params.d);
      const done = await ctx.replicas.terminate(d, r, requester(req));
      // 202: it drains and stops after this answer; 200: it had ended already.
      reply.code(done.outcome === 'stopping' ? 202 : 200);
      return replicaJson(done.record, done.live, ctx.gateway.inFlightOf(d.id, r));
    },
  );
}

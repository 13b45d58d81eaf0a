// The OpenAPI document of the management API, built from the routes as fastify registers them,
// so it never drifts from what the server answers.
import type { FastifyInstance, RouteOptions } from 'fastify';

interface Operation {
  method: string;
  url: string;
  summary: string;
}

export function collectOperations(app: FastifyInstance): Operation[] {
  const ops: Operation[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const summary = (route.config as { summary?: string } | undefined)?.summary;
    if (!summary || !route.url.startsWith('/')) return;
    for (const method of methods) ops.push({ method: method.toLowerCase(), url: route.url, summary });
  });
  return ops;
}

export function openApiDocument(ops: readonly Operation[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of ops) {
    const path = op.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const params = [...path.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    paths[path] ??= {};
    paths[path][op.method] = {
      summary: op.summary,
      parameters: params,
      security: path.startsWith('/v1/') && path !== '/v1/openapi.json' ? [{ apiKey: [] }] : [],
      responses: {
        default: {
          description: 'JSON; errors are {"error": {"code", "message"}}',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Plinth management API', version },
    components: {
      securitySchemes: {
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'Api-Key <key> (or Bearer <key>)',
        },
      },
    },
    paths,
  };
}

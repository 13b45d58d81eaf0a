// The model server inside a Node replica: Truss's routes over node:http.
//   GET /                        live (200 as soon as the process listens)
//   GET /v1/models/model         ready (503 until load() has finished, or while isHealthy() is false)
//   POST /v1/models/model:predict   (with x-plinth-replica-token, where the replica has a token)
//   POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/messages, /v1/responses: the
//        model's methods chatCompletions, completions, embeddings, messages, responses (404 when it
//        has none); a generator streams as server-sent events
//   GET /v1/websocket (an upgrade, with the token): the model's websocket(ws) (websocket.ts)
//   POST /v1/environment (with the token): the environment the deployment now serves (setupEnvironment)
// `predict_concurrency` bounds concurrent predict calls and open WebSockets together;
// pre/postprocess are not bounded.
import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isAsyncIterable, ModelInstance } from './model-instance.ts';
import type { ModelContext } from './model-instance.ts';
import { withRequestId } from './request-context.ts';
import { Semaphore } from './semaphore.ts';
import { createWebSocketRoute } from './websocket.ts';

export interface ModelServerOptions {
  modelFile: string;
  className: string;
  context: ModelContext;
  predictConcurrency: number;
  /**
   * What a predict request must carry in x-plinth-replica-token: only the platform's gateways know
   * it, so a local replica does not answer anyone else on the machine. None: no check (a pod).
   */
  token?: string;
  /** WebSocket keep-alive: a ping every `intervalMs`, unanswered for `timeoutMs` ends it (20 s each). */
  websocketPing?: { intervalMs: number; timeoutMs: number };
  /** Called when load() throws; the replica process exits so that the platform can see it. */
  onLoadError: (err: Error) => void;
}

export interface ModelServer {
  server: Server;
  loaded: Promise<void>;
  /** Stops accepting requests and resolves when those in flight have finished. */
  drain(): Promise<void>;
}

const MODEL_PATH = '/v1/models/model';
/** Where the platform says which environment the deployment now serves (runtime/replica-environment.ts). */
const ENVIRONMENT_PATH = '/v1/environment';
const PREDICT_PATH = '/v1/models/model:predict';
/** The OpenAI-compatible routes a model answers with its methods of these names. */
const OPENAI_METHODS: Readonly<Record<string, string>> = {
  '/v1/chat/completions': 'chatCompletions',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/messages': 'messages',
  '/v1/responses': 'responses',
};

/** How a stream's items are written: as the model framed strings and bytes, objects as events. */
interface StreamFormat {
  contentType: string;
  encode(item: unknown): string | Uint8Array;
  /** What follows the last item. */
  end(): string;
}

function predictFormat(req: IncomingMessage): StreamFormat {
  const sse = String(req.headers.accept ?? '').includes('text/event-stream');
  return {
    contentType: sse ? 'text/event-stream' : 'application/octet-stream',
    encode: (item) => encodeChunk(item, sse),
    end: () => '',
  };
}

/** An OpenAI method's stream: server-sent events whatever the Accept (the OpenAI SDKs send JSON's). */
function openAiFormat(): StreamFormat {
  let objects = false;
  return {
    contentType: 'text/event-stream',
    encode(item) {
      if (typeof item === 'string' || item instanceof Uint8Array) return item;
      objects = true;
      return `data: ${JSON.stringify(item)}\n\n`;
    },
    end: () => (objects ? 'data: [DONE]\n\n' : ''),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function encodeChunk(item: unknown, sse: boolean): string | Uint8Array {
  if (sse) return `data: ${typeof item === 'string' ? item : JSON.stringify(item)}\n\n`;
  if (typeof item === 'string' || item instanceof Uint8Array) return item;
  return JSON.stringify(item) + '\n';
}

/** Whether a request carries the replica's token; every request does where there is none. */
function authorized(req: IncomingMessage, token: Buffer | null): boolean {
  if (!token) return true;
  const sent = req.headers['x-plinth-replica-token'];
  if (typeof sent !== 'string') return false;
  const given = Buffer.from(sent);
  return given.length === token.length && timingSafeEqual(given, token);
}

export function createModelServer(options: ModelServerOptions): ModelServer {
  const token = options.token ? Buffer.from(options.token) : null;
  let model: ModelInstance | undefined;
  let environment = options.context.environment;
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  const slots = new Semaphore(options.predictConcurrency);

  const loaded = (async () => {
    const t0 = performance.now();
    const instance = await ModelInstance.create(options.modelFile, options.className, options.context);
    const t1 = performance.now();
    // As Truss: before load() only when the deployment serves an environment.
    let setUp = environment;
    if (setUp !== null) await instance.setupEnvironment(setUp);
    await instance.load();
    // A promotion that moved the deployment while it loaded: set up for where it is now, before
    // it is ready (no await between the last check and ready).
    while (JSON.stringify(environment) !== JSON.stringify(setUp)) {
      setUp = environment;
      await instance.setupEnvironment(setUp);
    }
    model = instance;
    const ms = (a: number, b: number): string => (b - a).toFixed(1);
    // The cold-start benchmark reads these figures: the model's own share of a start.
    console.log(
      `model loaded; ready to serve (import ${ms(t0, t1)} ms, load() ${ms(t1, performance.now())} ms)`,
    );
  })();
  loaded.catch((err: Error) => options.onLoadError(err));

  /** A promotion moved the deployment into another environment: setupEnvironment() again. */
  async function changeEnvironment(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let next: Record<string, unknown> | null;
    try {
      next = (JSON.parse((await readBody(req)).toString()) as { environment: Record<string, unknown> | null })
        .environment;
      if (next === undefined) throw new Error('no environment');
    } catch {
      return sendJson(res, 400, {
        error: { code: 'BAD_REQUEST', message: 'expected {"environment": {"name": …} | null}' },
      });
    }
    const changed = JSON.stringify(next) !== JSON.stringify(environment);
    environment = next;
    if (changed && model) {
      try {
        await model.setupEnvironment(next);
      } catch (err) {
        console.error(`setupEnvironment() threw: ${(err as Error).stack ?? String(err)}`);
        return sendJson(res, 500, {
          error: {
            code: 'MODEL_ERROR',
            message: "setupEnvironment() threw; its stack is in the deployment's logs",
          },
        });
      }
    }
    sendJson(res, 200, { environment: next });
  }

  async function predict(
    req: IncomingMessage,
    res: ServerResponse,
    ready: ModelInstance,
    method?: string,
  ): Promise<void> {
    // A body cut off half-way (the client, or the gateway refusing it as too large): nobody is
    // there to answer, and the server must not end over it.
    const raw = await readBody(req).catch(() => null);
    if (raw === null) return void res.destroy();
    let input: unknown;
    try {
      input = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
    } catch {
      return sendJson(res, 400, {
        error: { code: 'BAD_REQUEST', message: 'request body is not valid JSON' },
      });
    }
    const requestId = req.headers['x-request-id'];
    const id = typeof requestId === 'string' ? requestId : undefined;
    return withRequestId(id, () =>
      method ? answerWith(method, res, ready, input, requestId) : answer(req, res, ready, input, requestId),
    );
  }

  /** An OpenAI route: the model's method of that name, streamed when it is a generator. */
  async function answerWith(
    method: string,
    res: ServerResponse,
    ready: ModelInstance,
    input: unknown,
    requestId: string | string[] | undefined,
  ): Promise<void> {
    const release = await slots.acquire();
    try {
      const output = await ready.call(method, input);
      if (isAsyncIterable(output) || isIterator(output))
        return await stream(output, res, release, openAiFormat());
      release();
      sendJson(res, 200, output);
    } catch (err) {
      release();
      failed(res, `${method} failed`, err, requestId);
    }
  }

  function failed(
    res: ServerResponse,
    what: string,
    err: unknown,
    requestId: string | string[] | undefined,
  ): void {
    const e = err instanceof Error ? err : new Error(String(err));
    console.error(`${what}${requestId ? ` (request ${String(requestId)})` : ''}: ${e.stack ?? e.message}`);
    if (!res.headersSent) sendJson(res, 500, { error: { code: 'MODEL_ERROR', message: e.message } });
    else res.end();
  }

  async function answer(
    req: IncomingMessage,
    res: ServerResponse,
    ready: ModelInstance,
    input: unknown,
    requestId: string | string[] | undefined,
  ): Promise<void> {
    try {
      const pre = await ready.preprocess(input);
      const release = await slots.acquire();
      let output: unknown;
      try {
        output = await ready.predict(pre);
      } catch (err) {
        release();
        throw err;
      }
      if (isAsyncIterable(output) || isIterator(output)) {
        await stream(output, res, release, predictFormat(req));
        return;
      }
      release();
      sendJson(res, 200, await ready.postprocess(output));
    } catch (err) {
      failed(res, 'predict failed', err, requestId);
    }
  }

  async function stream(
    output: AsyncIterable<unknown> | Iterable<unknown>,
    res: ServerResponse,
    release: () => void,
    format: StreamFormat,
  ): Promise<void> {
    res.writeHead(200, {
      'content-type': format.contentType,
      'cache-control': 'no-cache',
      'x-plinth-stream': '1',
    });
    res.flushHeaders();
    try {
      for await (const item of output) {
        if (res.destroyed) break;
        // Backpressure: the model's generator waits while the reader (the gateway, its client) does.
        if (!res.write(format.encode(item))) await drainedOrClosed(res);
      }
      const tail = format.end();
      if (tail && !res.destroyed) res.write(tail);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      console.error(`stream failed part-way: ${e.stack ?? e.message}`);
    } finally {
      release();
      res.end();
    }
  }

  const websockets = createWebSocketRoute({
    authorized: (req) => authorized(req, token),
    model: () => model,
    draining: () => draining,
    slots,
    pingIntervalMs: options.websocketPing?.intervalMs ?? 20_000,
    pingTimeoutMs: options.websocketPing?.timeoutMs ?? 20_000,
    onOpenChange(open) {
      inFlight += open ? 1 : -1;
      if (inFlight === 0) idle?.();
    },
  });

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/') return sendJson(res, 200, { status: 'alive' });
    if (req.method === 'GET' && url === MODEL_PATH) {
      if (!model || draining) return sendJson(res, 503, { status: draining ? 'draining' : 'loading' });
      const ready = model;
      void ready.isHealthy().then(
        (ok) => sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : 'unhealthy' }),
        () => sendJson(res, 503, { status: 'unhealthy' }),
      );
      return;
    }
    const path = url.split('?')[0]!;
    const method = OPENAI_METHODS[path];
    if (req.method === 'POST' && path === ENVIRONMENT_PATH) {
      if (!authorized(req, token)) {
        res.setHeader('connection', 'close');
        return sendJson(res, 401, {
          error: { code: 'UNAUTHORIZED', message: 'this replica answers only the Plinth gateway' },
        });
      }
      void changeEnvironment(req, res);
      return;
    }
    if (req.method === 'POST' && (path === PREDICT_PATH || method)) {
      if (!authorized(req, token)) {
        res.setHeader('connection', 'close');
        return sendJson(res, 401, {
          error: { code: 'UNAUTHORIZED', message: 'this replica answers only the Plinth gateway' },
        });
      }
      if (!model)
        return sendJson(res, 503, {
          error: { code: 'MODEL_NOT_READY', message: 'the model is still loading' },
        });
      if (!method && model.servesWebSocket)
        return sendJson(res, 404, {
          error: {
            code: 'NOT_FOUND',
            message: 'the model has a websocket() method and no predict(): connect to …/websocket',
          },
        });
      if (method && !model.has(method))
        return sendJson(res, 404, {
          error: {
            code: 'NOT_FOUND',
            message: `the model has no ${method}() method, so it does not answer ${path}`,
          },
        });
      inFlight++;
      res.on('close', () => {
        inFlight--;
        if (inFlight === 0) idle?.();
      });
      void predict(req, res, model, method);
      return;
    }
    sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${url}` } });
  });
  server.keepAliveTimeout = 65_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    websockets.upgrade(req, socket, head),
  );

  return {
    server,
    loaded,
    async drain() {
      draining = true;
      // The gateway let open WebSockets run for the drain time already: now they are told to go.
      websockets.closeAll(5000);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        if (inFlight === 0) resolve();
        else idle = resolve;
      });
    },
  };
}

/** Waits until `res` can take more, or is gone; leaves no listener behind either way. */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function isIterator(v: unknown): v is Iterable<unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Symbol.iterator in v && 'next' in v;
}

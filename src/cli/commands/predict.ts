// `plinth predict`: call a model's environment, deployment or development endpoint and print
// the answer as it arrives (streams included); with --websocket, a WebSocket session over stdin
// and stdout (websocket-session.ts); with --async, it hands the request to the deployment's queue
// and prints its request id (`plinth async get` follows it).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveConnection } from '../connection.ts';
import { apiErrorFrom } from '../api-client.ts';
import { UserError } from '../errors.ts';
import { inferenceBase } from '../inference-url.ts';
import { modelRef } from '../model-dir.ts';
import { runWebSocketSession } from '../websocket-session.ts';

interface PredictOptions {
  model?: string;
  deployment?: string;
  environment?: string;
  development?: boolean;
  data?: string;
  file?: string;
  output?: string;
  sync?: string;
  websocket?: boolean;
  async?: boolean;
  webhook?: string;
  priority?: string;
}

/** The request body: -d or -f, checked as JSON; none for a `--sync` call without either (a GET). */
function requestBody(options: PredictOptions): string | undefined {
  if (options.data !== undefined && options.file !== undefined)
    throw new UserError('pass either -d or -f, not both');
  let text: string;
  let source: string;
  if (options.file !== undefined) {
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read ${options.file}: ${(err as Error).message}`);
    }
    source = options.file;
  } else if (options.data !== undefined) {
    text = options.data;
    source = '-d';
  } else if (options.sync !== undefined) return undefined;
  else throw new UserError('pass the request body with -d JSON or -f FILE');
  try {
    JSON.parse(text);
  } catch (err) {
    throw new UserError(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  return text;
}

export function registerPredict(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  program
    .command('predict')
    .description("Call a model's endpoint")
    .argument('[dir]', 'a model directory (names the model)')
    .option('--model <model>', 'model id or name')
    .option('--deployment <id>', 'call this deployment')
    .option('--environment <name>', 'call this environment (default production)')
    .option('--development', 'call the development deployment')
    .option('-d, --data <json>', 'request body (JSON)')
    .option('-f, --file <file>', 'file with the request body (JSON)')
    .option('--output <format>', 'text or json', 'text')
    .option(
      '--sync <path>',
      "call this path of the model's own server (…/sync/<path>, e.g. /v1/chat/completions): POST with -d/-f, else GET",
    )
    .option(
      '--websocket',
      "open a WebSocket to the model's …/websocket: each stdin line is sent as a message, each message received printed on its own line",
    )
    .option(
      '--async',
      'queue the request (…/async_predict) and print its request id; `plinth async get` follows it',
    )
    .option('--webhook <url>', 'with --async: where the result is POSTed, signed')
    .option('--priority <n>', 'with --async: 0 (first), 1 (default) or 2')
    .action((dir: string | undefined, options: PredictOptions) =>
      run(async () => {
        if ((options.webhook ?? options.priority) !== undefined && !options.async)
          throw new UserError('--webhook and --priority go with --async');
        if (options.async && (options.websocket || options.sync !== undefined))
          throw new UserError('--async sends a predict request: pass no --websocket or --sync');
        const targets = [options.deployment, options.environment, options.development].filter(
          (x) => x !== undefined,
        );
        if (targets.length > 1)
          throw new UserError('pass only one of --deployment, --environment, --development');
        if (options.websocket && (options.data ?? options.file ?? options.sync) !== undefined)
          throw new UserError('--websocket reads its messages from stdin: pass no -d, -f or --sync');
        const body = options.websocket ? undefined : requestBody(options);
        const model = modelRef(options.model, dir);
        const conn = resolveConnection();
        const base = inferenceBase(conn.url, model, options);
        if (options.websocket) {
          const input = process.stdin;
          const output = process.stdout;
          await runWebSocketSession({
            url: `${base}/websocket`,
            apiKey: conn.apiKey,
            input,
            output,
            label: model,
          });
          // The server ended the session: stdin (a terminal, say) no longer keeps the command alive.
          input.destroy();
          return;
        }
        if (options.async) {
          const id = await queueRequest(`${base}/async_predict`, conn.apiKey, model, {
            model_input: JSON.parse(body ?? '{}') as unknown,
            ...(options.webhook ? { webhook_endpoint: options.webhook } : {}),
            ...(options.priority !== undefined ? { priority: Number(options.priority) } : {}),
          });
          process.stdout.write(
            options.output === 'json' ? JSON.stringify({ request_id: id }) + '\n' : `${id}\n`,
          );
          return;
        }
        const sync = options.sync === undefined ? null : `/${options.sync.replace(/^\/+/, '')}`;
        const url = `${base}/${sync ? `sync${sync}` : 'predict'}`;
        let res: Response;
        try {
          res = await fetch(url, {
            method: body === undefined ? 'GET' : 'POST',
            body,
            headers: { 'content-type': 'application/json', authorization: `Api-Key ${conn.apiKey}` },
          });
        } catch (err) {
          throw new UserError(`cannot reach ${conn.url}: ${(err as Error).message}`);
        }
        if (!res.ok) throw apiErrorFrom(res.status, await res.text(), `${model}: `);
        let last = '';
        for await (const chunk of res.body ?? []) {
          const text = Buffer.from(chunk as Uint8Array).toString();
          process.stdout.write(text);
          last = text;
        }
        if (!last.endsWith('\n')) process.stdout.write('\n');
      }, options.output === 'json'),
    );
}

/** POSTs an async request; answers its id. */
async function queueRequest(url: string, apiKey: string, model: string, body: unknown): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Api-Key ${apiKey}` },
    });
  } catch (err) {
    throw new UserError(`cannot reach ${new URL(url).origin}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw apiErrorFrom(res.status, text, `${model}: `);
  return (JSON.parse(text) as { request_id: string }).request_id;
}

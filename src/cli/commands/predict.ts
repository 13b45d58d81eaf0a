// `plinth predict`: call a model's environment, deployment or development endpoint and print
// the answer as it arrives (streams included); with --websocket, a WebSocket session over stdin
// and stdout (websocket-session.ts).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveConnection } from '../connection.ts';
import { apiErrorFrom } from '../api-client.ts';
import { UserError } from '../errors.ts';
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
    .action((dir: string | undefined, options: PredictOptions) =>
      run(async () => {
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
        const target = options.deployment
          ? `deployment/${encodeURIComponent(options.deployment)}`
          : options.development
            ? 'development'
            : `environments/${encodeURIComponent(options.environment ?? 'production')}`;
        const base = `${conn.url}/models/${encodeURIComponent(model)}/${target}`;
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

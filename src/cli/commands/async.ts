// `plinth async get|cancel|queue`: follow an async request (its status, attempts, errors and, while
// it is kept, its output), cancel one still QUEUED, and see a deployment's queue.
import type { Command } from 'commander';
import { apiErrorFrom } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
import { inferenceBase } from '../inference-url.ts';
import { modelRef } from '../model-dir.ts';
import { printJson } from '../output.ts';

interface TargetOptions {
  model?: string;
  deployment?: string;
  environment?: string;
  development?: boolean;
  output?: string;
}

/** The inference URL of the target the options name (production by default). */
function targetUrl(options: TargetOptions): { base: string; apiKey: string; model: string } {
  const model = modelRef(options.model, undefined);
  const conn = resolveConnection();
  return { base: inferenceBase(conn.url, model, options), apiKey: conn.apiKey, model };
}

async function call(
  method: string,
  url: string,
  apiKey: string,
  model: string,
): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, { method, headers: { authorization: `Api-Key ${apiKey}` } });
  } catch (err) {
    throw new UserError(`cannot reach ${new URL(url).origin}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw apiErrorFrom(res.status, text, `${model}: `);
  return JSON.parse(text) as Record<string, unknown>;
}

function targetOptions(command: Command): Command {
  return command
    .option('--model <model>', 'model id or name (default: the model directory here)')
    .option('--deployment <id>', "a deployment's queue")
    .option('--environment <name>', "an environment's deployment (default production)")
    .option('--development', 'the development deployment')
    .option('--output <format>', 'text or json', 'text');
}

function print(answer: Record<string, unknown>, json: boolean): void {
  if (json) return printJson(answer);
  for (const [key, value] of Object.entries(answer))
    process.stdout.write(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
}

export function registerAsync(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const group = program.command('async').description('Follow, cancel and count async requests');
  targetOptions(group.command('get').description("An async request's status (and its output while kept)"))
    .argument('<request_id>', 'the id `plinth predict --async` printed')
    .action((id: string, options: TargetOptions) =>
      run(async () => {
        const { base, apiKey, model } = targetUrl(options);
        print(
          await call('GET', `${base}/async_request/${encodeURIComponent(id)}`, apiKey, model),
          options.output === 'json',
        );
      }, options.output === 'json'),
    );
  targetOptions(group.command('cancel').description('Cancel an async request that is still QUEUED'))
    .argument('<request_id>', 'the request to cancel')
    .action((id: string, options: TargetOptions) =>
      run(async () => {
        const { base, apiKey, model } = targetUrl(options);
        print(
          await call('DELETE', `${base}/async_request/${encodeURIComponent(id)}`, apiKey, model),
          options.output === 'json',
        );
      }, options.output === 'json'),
    );
  targetOptions(
    group.command('queue').description("A deployment's queued and in-progress async requests"),
  ).action((options: TargetOptions) =>
    run(async () => {
      const { base, apiKey, model } = targetUrl(options);
      print(await call('GET', `${base}/async_queue_status`, apiKey, model), options.output === 'json');
    }, options.output === 'json'),
  );
}

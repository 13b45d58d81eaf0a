// `plinth keys create|list|revoke` and `plinth secrets set|list|delete`: API keys (shown once,
// stored as hashes) and secrets (encrypted at rest, never shown again).
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { UserError } from '../errors.ts';
import { printJson, printTable } from '../output.ts';

type Run = (fn: () => Promise<void>, json: boolean) => Promise<void>;

interface KeyInfo {
  id: string;
  name: string;
  scope: string;
  models: string[] | null;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function registerKeys(program: Command, run: Run): void {
  const keys = program.command('keys').description('Create, list and revoke API keys');
  keys
    .command('create')
    .description('Create an API key (its secret is printed once)')
    .argument('<name>', 'what the key is for')
    .option('--scope <scope>', 'admin, deploy or inference', 'deploy')
    .option('--model <model...>', 'for an inference key: the models it may call')
    .option('--output <format>', 'text or json', 'text')
    .action((name: string, o: { scope: string; model?: string[]; output?: string }) =>
      run(async () => {
        if (!['admin', 'deploy', 'inference'].includes(o.scope))
          throw new UserError(`--scope ${o.scope}: expected admin, deploy or inference`);
        const client = new ApiClient(resolveConnection());
        const key = await client.request<KeyInfo & { api_key: string }>('POST', '/v1/api_keys', {
          name,
          scope: o.scope,
          ...(o.model ? { models: o.model } : {}),
        });
        if (o.output === 'json') return printJson(key);
        process.stdout.write(`${key.api_key}\n`);
        process.stderr.write(`key ${key.id} (${key.scope}); the secret above is shown only now\n`);
      }, o.output === 'json'),
    );
  keys
    .command('list')
    .description('List API keys (never their secrets)')
    .option('--output <format>', 'text or json', 'text')
    .action((o: { output?: string }) =>
      run(async () => {
        const { api_keys } = await new ApiClient(resolveConnection()).request<{ api_keys: KeyInfo[] }>(
          'GET',
          '/v1/api_keys',
        );
        if (o.output === 'json') return printJson({ api_keys });
        printTable(
          ['ID', 'NAME', 'SCOPE', 'MODELS', 'PREFIX', 'CREATED', 'REVOKED'],
          api_keys.map((k) => [
            k.id,
            k.name,
            k.scope,
            k.models?.join(',') ?? '*',
            k.prefix,
            k.created_at,
            k.revoked_at ?? '-',
          ]),
        );
      }, o.output === 'json'),
    );
  keys
    .command('revoke')
    .description('Revoke an API key (at once)')
    .argument('<id>', 'the key id from `plinth keys list`')
    .action((id: string) =>
      run(async () => {
        await new ApiClient(resolveConnection()).request('DELETE', `/v1/api_keys/${encodeURIComponent(id)}`);
        process.stdout.write(`revoked ${id}\n`);
      }, false),
    );

  const secrets = program.command('secrets').description('Set, list and delete secrets');
  secrets
    .command('set')
    .description('Set a secret (the value is read from stdin unless --value is given)')
    .argument('<name>', 'the name a config.yaml declares under `secrets`')
    .option('--value <value>', 'the value (prefer stdin: it stays out of shell history)')
    .action((name: string, o: { value?: string }) =>
      run(async () => {
        const value = o.value ?? (await readStdin());
        await new ApiClient(resolveConnection()).request('PUT', `/v1/secrets/${encodeURIComponent(name)}`, {
          value,
        });
        process.stdout.write(`secret ${name} set\n`);
      }, false),
    );
  secrets
    .command('list')
    .description('List secrets (names only)')
    .option('--output <format>', 'text or json', 'text')
    .action((o: { output?: string }) =>
      run(async () => {
        const { secrets: list } = await new ApiClient(resolveConnection()).request<{
          secrets: { name: string; created_at: string; updated_at: string }[];
        }>('GET', '/v1/secrets');
        if (o.output === 'json') return printJson({ secrets: list });
        printTable(
          ['NAME', 'CREATED', 'UPDATED'],
          list.map((s) => [s.name, s.created_at, s.updated_at]),
        );
      }, o.output === 'json'),
    );
  secrets
    .command('delete')
    .description('Delete a secret')
    .argument('<name>')
    .action((name: string) =>
      run(async () => {
        await new ApiClient(resolveConnection()).request('DELETE', `/v1/secrets/${encodeURIComponent(name)}`);
        process.stdout.write(`secret ${name} deleted\n`);
      }, false),
    );
}

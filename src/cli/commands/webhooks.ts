// `plinth webhooks secret create|list|revoke`: the secrets async webhooks are signed with (admin).
// A new secret's value is printed once; revoking keeps it signing for an overlap (default 24 h).
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { resolveConnection } from '../connection.ts';
import { printJson, printTable } from '../output.ts';

interface SecretInfo {
  id: string;
  created_at: string;
  expires_at: string | null;
}

export function registerWebhooks(
  program: Command,
  run: (fn: () => Promise<void>, json: boolean) => Promise<void>,
): void {
  const secret = program
    .command('webhooks')
    .description('Webhook signing secrets for async requests')
    .command('secret')
    .description('Create, list and revoke webhook signing secrets');
  secret
    .command('create')
    .description('Make a signing secret (its value is shown once)')
    .option('--output <format>', 'text or json', 'text')
    .action((options: { output?: string }) =>
      run(async () => {
        const made = await new ApiClient(resolveConnection()).request<SecretInfo & { secret: string }>(
          'POST',
          '/v1/webhook_secrets',
        );
        if (options.output === 'json') return printJson(made);
        process.stdout.write(`${made.id}\n${made.secret}\n`);
        process.stderr.write('Keep the secret: it is not shown again. Verify X-Plinth-Signature with it.\n');
      }, options.output === 'json'),
    );
  secret
    .command('list')
    .description('List signing secrets (ids and times, never values)')
    .option('--output <format>', 'text or json', 'text')
    .action((options: { output?: string }) =>
      run(async () => {
        const { webhook_secrets } = await new ApiClient(resolveConnection()).request<{
          webhook_secrets: SecretInfo[];
        }>('GET', '/v1/webhook_secrets');
        if (options.output === 'json') return printJson({ webhook_secrets });
        printTable(
          ['ID', 'CREATED', 'SIGNS UNTIL'],
          webhook_secrets.map((s) => [s.id, s.created_at, s.expires_at ?? '-']),
        );
      }, options.output === 'json'),
    );
  secret
    .command('revoke')
    .description('Stop a secret signing after an overlap in which the newer ones sign too')
    .argument('<id>', 'the secret')
    .option('--overlap-hours <n>', 'hours it still signs', '24')
    .option('--output <format>', 'text or json', 'text')
    .action((id: string, options: { output?: string; overlapHours: string }) =>
      run(async () => {
        const revoked = await new ApiClient(resolveConnection()).request<SecretInfo>(
          'DELETE',
          `/v1/webhook_secrets/${encodeURIComponent(id)}?overlap_hours=${encodeURIComponent(options.overlapHours)}`,
        );
        if (options.output === 'json') return printJson(revoked);
        process.stdout.write(`${revoked.id} signs until ${revoked.expires_at}\n`);
      }, options.output === 'json'),
    );
}

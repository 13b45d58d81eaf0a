// Delivers finished async requests to their webhooks (on the leading control plane): each pass takes
// the deliveries that are due, posts each signed with every secret that still signs, and records
// the outcome — delivered, tried again later on 5xx and timeouts, or given up (WEBHOOK_FAILED).
// Deliveries carry the request id, so a receiver can drop the duplicate a crash may cause.
import type { AsyncRequest } from '../domain/async-requests.ts';
import { ControlLoop } from '../domain/control-loop.ts';
import type { LoopHealth } from '../domain/control-loop.ts';
import type { Store } from '../store/store.ts';
import { deliverWebhook, WEBHOOK_MAX_ATTEMPTS, webhookRetryDelayMs } from './webhook-delivery.ts';
import { webhookPayload } from './webhook-payload.ts';

export type WebhookStore = Pick<Store, 'listWebhooksDue' | 'recordWebhook'>;

export interface WebhookSenderOptions {
  store: WebhookStore;
  /** The values of the secrets that sign now (newest first). */
  signingSecrets: () => Promise<string[]>;
  allowPrivate: boolean;
  isLeading: () => boolean;
  /** Told each delivery's outcome (metrics). */
  onOutcome?: (outcome: 'delivered' | 'retry' | 'failed') => void;
  health?: LoopHealth;
  timeoutMs?: number;
  intervalMs?: number;
}

/** Deliveries in flight at once. */
const PARALLEL = 8;

export class WebhookSender {
  private loop: ControlLoop | null = null;
  private readonly sending = new Set<string>();

  constructor(private readonly options: WebhookSenderOptions) {}

  start(): void {
    this.loop = new ControlLoop(() => this.pass(), {
      name: 'async-webhooks',
      intervalMs: this.options.intervalMs ?? 500,
      health: this.options.health,
    });
    this.loop.start();
  }

  kick(): void {
    void this.loop?.kick();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }

  async pass(): Promise<void> {
    if (!this.options.isLeading()) return;
    const room = PARALLEL - this.sending.size;
    if (room <= 0) return;
    const due = await this.options.store.listWebhooksDue(Date.now(), room + this.sending.size);
    const secrets = due.length > 0 ? await this.options.signingSecrets() : [];
    for (const request of due) {
      if (this.sending.has(request.id) || this.sending.size >= PARALLEL) continue;
      this.sending.add(request.id);
      void this.send(request, secrets)
        .catch((err: Error) =>
          // Unrecorded: still due, so it is tried again (the request id lets the receiver dedupe).
          console.error(`async queue: webhook of request ${request.id}: ${err.message}`),
        )
        .finally(() => {
          this.sending.delete(request.id);
          this.kick();
        });
    }
  }

  private async send(request: AsyncRequest, secrets: string[]): Promise<void> {
    if (secrets.length === 0) {
      // Every secret was revoked meanwhile: nothing goes out unsigned; it waits for a new one.
      console.error(
        `async queue: webhook of request ${request.id} waits: no webhook secret signs now (plinth webhooks secret create)`,
      );
      await this.options.store.recordWebhook(request.id, { status: 'PENDING', next_ms: Date.now() + 60_000 });
      return;
    }
    const result = await deliverWebhook({
      url: request.webhook_endpoint!,
      body: webhookPayload(request, new Date().toISOString()),
      requestId: request.id,
      secrets,
      allowPrivate: this.options.allowPrivate,
      timeoutMs: this.options.timeoutMs ?? 10_000,
    });
    const attempt = request.webhook_attempts + 1;
    const outcome = result.outcome === 'retry' && attempt >= WEBHOOK_MAX_ATTEMPTS ? 'failed' : result.outcome;
    this.options.onOutcome?.(outcome);
    if (outcome !== 'delivered')
      console.error(
        `async queue: webhook of request ${request.id} ${outcome === 'failed' ? 'failed' : 'will be tried again'}: ${result.message}`,
      );
    try {
      await this.options.store.recordWebhook(request.id, {
        status: outcome === 'delivered' ? 'DELIVERED' : outcome === 'failed' ? 'FAILED' : 'PENDING',
        next_ms: outcome === 'retry' ? Date.now() + webhookRetryDelayMs(attempt) : null,
      });
    } catch (err) {
      // Not recorded: it is due again and delivered again (the request id lets the receiver dedupe).
      console.error(`async queue: recording webhook of ${request.id} failed: ${(err as Error).message}`);
    }
  }
}

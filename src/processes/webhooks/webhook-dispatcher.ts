// Sends the webhook outbox (issue 16). The webhooks projection queues one delivery row per endpoint and event,
// with its checkpoint; this process sends each endpoint's PENDING rows one at a time in seq order (so in
// order per contact), marks a row DELIVERED only after a 2xx answer (at least once: a crash between the two
// sends it again, with the same Kefu-Delivery id), retries a failure with exponential backoff, and pauses the
// endpoint (WebhookPaused, with the reason) once a delivery has failed for the retry time. Each endpoint has
// its own worker, so a slow or dead endpoint never holds up another; nothing here runs on a call's or chat's
// path. One process among those sharing the database dispatches (a lease).
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { CommandHandler } from '../../adapters/eventstore/command-handler.ts';
import type { Lease, SqlClient } from '../../adapters/sql/sql-client.ts';
import type { WebhookSender } from '../../adapters/webhooks/webhook-sender.ts';
import { webhookSecret } from '../../adapters/webhooks/webhook-signature.ts';
import type { Bus } from '../../domain/ports/bus.ts';
import { comparePositions, positionFromString } from '../../domain/ports/event-store.ts';
import { streams } from '../../domain/streams.ts';
import { webhookDecider } from '../../domain/webhook/webhook.decide.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { readCheckpoint, type Logger } from '../../projections/projection-runner.ts';
import { webhookDeliveriesTopic, webhookLogDays } from '../../projections/webhooks/webhooks.projection.ts';

export interface WebhookDispatcherDeps {
  db: ReadModel;
  sql: SqlClient;
  bus: Bus;
  commands: CommandHandler;
  sender: WebhookSender;
  /** The key webhook secrets are derived with (secretsKeyFor(..., 'webhook-secrets')). */
  secretKey: Uint8Array;
  logger: Logger;
  clock: () => Date;
  /** How long a delivery is retried before its endpoint is paused. */
  retryForMs: number;
  /** Backoff after the first failure, doubled after each one up to backoffMaxMs. */
  backoffMinMs: number;
  backoffMaxMs: number;
  /** How often queues are looked at without a wake-up (resumed endpoints, other processes' events). */
  pollMs?: number;
}

type DeliveryRow = { id: string; kind: string; event_id: string; body: string; event_position: string; attempts: number; next_attempt_at: Date | string | null; first_failed_at: Date | string | null };

/** The backoff before attempt n+1 after n failures: min·2^(n-1), at most max, with ±20% jitter. */
export function backoffMs(failures: number, minMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class WebhookDispatcher {
  private readonly deps: WebhookDispatcherDeps;
  private readonly workers = new Map<string, Promise<void>>();
  private readonly sleepers = new Set<() => void>();
  private lease: Lease | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private stopped = false;
  /** Aborts requests in flight when the dispatcher stops (they are sent again after the restart). */
  private readonly stopping = new AbortController();
  private refreshing = false;
  private refreshAgain = false;
  private prunedAt = 0;

  constructor(deps: WebhookDispatcherDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.deps.bus.subscribe(webhookDeliveriesTopic, () => this.wake());
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.deps.pollMs ?? 1000);
    this.timer.unref();
  }

  /** New deliveries were queued (or an endpoint resumed): workers look at their queues now. */
  wake(): void {
    for (const s of [...this.sleepers]) s();
    void this.refresh();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    if (this.timer) clearInterval(this.timer);
    await this.unsubscribe?.();
    for (const s of [...this.sleepers]) s();
    await Promise.all(this.workers.values());
    this.deps.sender.close?.();
    await this.lease?.release();
    this.lease = null;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (!this.lease) {
      try {
        this.lease = await this.deps.sql.tryLease('webhooks:dispatcher');
      } catch (err) {
        this.deps.logger.warn({ err }, 'webhook dispatcher lease check failed');
        return;
      }
      if (!this.lease) return;
      void this.lease.lost.then(() => {
        this.deps.logger.warn({}, 'webhook dispatcher lost its lease; it takes it again when it can');
        this.lease = null;
      });
    }
    await this.refresh();
    const now = this.deps.clock().getTime();
    if (now - this.prunedAt >= 3_600_000) {
      this.prunedAt = now;
      await this.pruneLog();
    }
  }

  /** Starts a worker for each active endpoint with PENDING deliveries that has none. */
  private async refresh(): Promise<void> {
    if (this.stopped || !this.lease) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.refreshAgain = false;
        const due = await this.deps.db
          .selectFrom('webhooks as w')
          .select(['w.instance_id', 'w.id'])
          .where('w.deleted_at', 'is', null)
          .where('w.paused_at', 'is', null)
          .where((eb) => eb.exists(eb.selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.webhook_id', '=', 'w.id').whereRef('d.instance_id', '=', 'w.instance_id').where('d.status', '=', 'PENDING')))
          .execute();
        for (const hook of due) {
          const key = `${hook.instance_id}/${hook.id}`;
          if (this.workers.has(key) || this.stopped) continue;
          const worker = this.work(hook.instance_id, hook.id)
            .catch((err: unknown) => this.deps.logger.error({ err, webhookId: hook.id }, 'webhook worker failed; it starts again'))
            .finally(() => this.workers.delete(key));
          this.workers.set(key, worker);
        }
      } while (this.refreshAgain && !this.stopped);
    } catch (err) {
      this.deps.logger.warn({ err }, 'webhook queues could not be read');
    } finally {
      this.refreshing = false;
    }
  }

  /** Deliveries delivered or cancelled more than webhookLogDays ago leave the log (run once an hour). */
  async pruneLog(): Promise<void> {
    const now = this.deps.clock().getTime();
    const cutoff = new Date(now - webhookLogDays * 86_400_000);
    try {
      await this.deps.db
        .deleteFrom('webhook_deliveries')
        .where('status', 'in', ['DELIVERED', 'CANCELLED'])
        .where('created_at', '<', cutoff)
        .where((eb) => eb.or([eb('delivered_at', 'is', null), eb('delivered_at', '<', cutoff)]))
        .execute();
    } catch (err) {
      this.deps.logger.warn({ err }, 'old webhook deliveries could not be pruned');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.sleepers.add(done);
    });
  }

  /**
   * Sends one endpoint's queue in order until it is empty, the endpoint is paused or deleted, or the dispatcher
   * stops. Rows are read a few at a time; the endpoint's row is read again before each batch and after a failure.
   */
  private async work(instanceId: string, webhookId: string): Promise<void> {
    const { db } = this.deps;
    while (!this.stopped && this.lease) {
      const hook = await db.selectFrom('webhooks').select(['url', 'secret_salt', 'paused_at', 'deleted_at']).where('instance_id', '=', instanceId).where('id', '=', webhookId).executeTakeFirst();
      if (!hook || hook.deleted_at !== null || hook.paused_at !== null) return;
      const rows: DeliveryRow[] = await db
        .selectFrom('webhook_deliveries')
        .select(['id', 'kind', 'event_id', 'body', 'event_position', 'attempts', 'next_attempt_at', 'first_failed_at'])
        .where('webhook_id', '=', webhookId)
        .where('instance_id', '=', instanceId)
        .where('status', '=', 'PENDING')
        .orderBy('seq')
        .limit(20)
        .execute();
      if (rows.length === 0) return;
      const endpoint = { url: hook.url, secret: webhookSecret(this.deps.secretKey, instanceId, webhookId, hook.secret_salt) };
      for (const row of rows) {
        if (this.stopped) return;
        const outcome = await this.deliver(instanceId, webhookId, endpoint, row);
        if (outcome === 'paused') return;
        if (outcome === 'look again') break;
      }
    }
  }

  /** One attempt at a delivery: 'sent' (next one), 'look again' (it waits or failed: read the queue again), 'paused'. */
  private async deliver(instanceId: string, webhookId: string, endpoint: { url: string; secret: string }, row: DeliveryRow): Promise<'sent' | 'look again' | 'paused'> {
    const { db, clock } = this.deps;
    const now = clock();
    if (row.next_attempt_at !== null && new Date(row.next_attempt_at).getTime() > now.getTime()) {
      // Woken early by new deliveries: they wait behind this one anyway (order), so sleep on, in slices that notice a pause.
      await this.sleep(Math.min(this.deps.pollMs ?? 1000, new Date(row.next_attempt_at).getTime() - now.getTime()));
      return 'look again';
    }
    if (row.kind === 'RECORD_READY' && !(await this.recordsReached(row.event_position))) {
      await this.sleep(100);
      return 'look again';
    }
    const answer = await this.deps.sender.send({ url: endpoint.url, body: row.body, secret: endpoint.secret, deliveryId: row.id, eventId: row.event_id, kind: row.kind }, this.stopping.signal);
    // Stopped mid-request: the delivery stays as it was and goes out after the restart.
    if (this.stopped) return 'look again';
    const at = clock();
    if (answer.ok) {
      await db
        .updateTable('webhook_deliveries')
        .set({ status: 'DELIVERED', attempts: sql`attempts + 1`, last_status_code: answer.status, last_attempt_at: at, delivered_at: at, next_attempt_at: null, first_failed_at: null })
        .where('id', '=', row.id)
        .where('status', '=', 'PENDING')
        .execute();
      return 'sent';
    }
    const attempts = row.attempts + 1;
    const firstFailedAt = row.first_failed_at === null ? at : new Date(row.first_failed_at);
    const error = answer.error.slice(0, 500);
    await db
      .updateTable('webhook_deliveries')
      .set({
        attempts: sql`attempts + 1`,
        last_error: error,
        last_status_code: answer.status,
        last_attempt_at: at,
        first_failed_at: firstFailedAt,
        next_attempt_at: new Date(at.getTime() + backoffMs(attempts, this.deps.backoffMinMs, this.deps.backoffMaxMs)),
      })
      .where('id', '=', row.id)
      .where('status', '=', 'PENDING')
      .execute();
    if (at.getTime() - firstFailedAt.getTime() < this.deps.retryForMs) return 'look again';
    const seconds = Math.round((at.getTime() - firstFailedAt.getTime()) / 1000);
    const reason = `delivery ${row.id} (${row.kind}) failed for ${seconds} s, ${attempts} attempts; last error: ${error}`;
    await this.deps.commands.handle(streams.webhook(instanceId, webhookId), webhookDecider, {
      type: 'PauseWebhook',
      data: { webhookId, reason },
      metadata: { now: at.toISOString(), instanceId, actor: 'system:webhooks', correlationId: randomUUID() },
    });
    this.deps.logger.warn({ instanceId, webhookId, reason }, 'webhook paused: its endpoint kept failing');
    return 'paused';
  }

  /** Whether the call and chat records include the event at `position` (RECORD_READY means the record can be read). */
  private async recordsReached(position: string): Promise<boolean> {
    const p = positionFromString(position);
    for (const name of ['callRecords', 'chatRecords']) {
      const at = await readCheckpoint(this.deps.db, name);
      if (!at || comparePositions(at, p) < 0) return false;
    }
    return true;
  }
}

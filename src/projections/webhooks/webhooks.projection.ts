// Webhooks (issue 16): the admins' subscriptions, and the outbox of deliveries. Each event of a subscribed kind
// becomes one delivery row per endpoint in the projection's transaction, so a delivery is queued exactly once
// and survives a restart; the dispatcher (src/processes/webhooks) sends them in order and records the outcome.
import { createHash } from 'node:crypto';
import type { Insertable, Transaction } from 'kysely';
import type { EventMetadata, RecordedEvent } from '../../domain/ports/event-store.ts';
import { positionToString } from '../../domain/ports/event-store.ts';
import type { WebhookEvent, WebhookEventKind } from '../../domain/webhook/webhook.ts';
import { kindsOfEventType, webhookSourceEventTypes } from '../../domain/webhook/webhook.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

type Trx = Transaction<ReadModelDb>;

/**
 * How long delivered and cancelled deliveries stay in the log (the dispatcher prunes older ones). An event older
 * than this when it is projected is not queued: a rebuild from zero must not send long-past events again.
 */
export const webhookLogDays = 30;

/** Published after a batch that queued deliveries: the dispatcher wakes up. */
export const webhookDeliveriesTopic = 'kefu.webhooks.queued';

const webhookEvents: ReadonlySet<string> = new Set<WebhookEvent['type']>(['WebhookCreated', 'WebhookUpdated', 'WebhookSecretRotated', 'WebhookPaused', 'WebhookResumed', 'WebhookDeleted']);

/** The entity of `<category>-<instanceId>.<entityId>`. */
function entityOf(streamId: string): string {
  return streamId.slice(streamId.indexOf('.') + 1);
}

/** A delivery's id, the same whenever the event is projected again (uuid-shaped). */
export function deliveryIdOf(webhookId: string, eventId: string, kind: string): string {
  const h = createHash('sha256').update(`${webhookId}/${eventId}/${kind}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const presenceOf: Record<string, string> = {
  AgentWentAvailable: 'AVAILABLE',
  AgentWentOnBreak: 'BREAK',
  AgentWentOffline: 'OFFLINE',
  AgentForcedOffline: 'FORCED_OFFLINE',
  AgentRestored: 'OFFLINE',
};

/** The JSON a receiver gets for an event of a kind. */
export function deliveryBody(kind: WebhookEventKind, e: RecordedEvent): string {
  const isAgent = e.streamId.startsWith('agent-');
  const data = isAgent ? { presence: presenceOf[e.type] ?? null, reason: (e.data.reason as string | null | undefined) ?? null } : e.data;
  return JSON.stringify({
    eventId: e.id,
    kind,
    type: e.type,
    instanceId: e.metadata.instanceId,
    occurredAt: e.metadata.occurredAt,
    correlationId: e.metadata.correlationId,
    ...(isAgent ? { agentId: entityOf(e.streamId) } : { contactId: entityOf(e.streamId) }),
    data,
  });
}

interface Subscriber {
  id: string;
  kinds: string[];
}

/**
 * Each instance's webhooks as committed, kept between batches so that a batch of chat messages does not read
 * the table again (issue 11): only this projection writes it. Filled from reads in batches that changed none of
 * the instance's webhooks (so never from a change that may yet roll back), dropped when one of its webhook
 * events is applied, and emptied when a runner starts the projection or a rebuild begins (reset).
 */
const committedSubscribers = new Map<string, Subscriber[]>();
const maxCachedInstances = 10_000;

export const webhooksProjection: Projection = {
  name: 'webhooks',
  tables: ['webhooks'],
  eventTypes: new Set([...webhookEvents, ...webhookSourceEventTypes]),
  reset() {
    committedSubscribers.clear();
  },
  async applyBatch(trx, events, changes) {
    const subscribers = new Map<string, Subscriber[]>();
    /** Instances whose webhooks this batch changed: their reads see this transaction's writes. */
    const changed = new Set<string>();
    const horizon = Date.now() - webhookLogDays * 86_400_000;
    const rows: Insertable<ReadModelDb['webhook_deliveries']>[] = [];
    for (const e of events) {
      const instanceId = e.metadata.instanceId;
      if (webhookEvents.has(e.type)) {
        await applyWebhookEvent(trx, entityOf(e.streamId), { type: e.type, data: e.data } as WebhookEvent, e.metadata);
        subscribers.delete(instanceId);
        changed.add(instanceId);
        committedSubscribers.delete(instanceId);
        continue;
      }
      let subs = subscribers.get(instanceId) ?? (changed.has(instanceId) ? undefined : committedSubscribers.get(instanceId));
      if (!subs) {
        const found = await trx.selectFrom('webhooks').select(['id', 'event_kinds']).where('instance_id', '=', instanceId).where('deleted_at', 'is', null).execute();
        subs = found.map((r) => ({ id: r.id, kinds: r.event_kinds }));
        subscribers.set(instanceId, subs);
        if (!changed.has(instanceId)) {
          if (committedSubscribers.size >= maxCachedInstances) committedSubscribers.clear();
          committedSubscribers.set(instanceId, subs);
        }
      }
      if (subs.length === 0 || Date.parse(e.metadata.occurredAt) < horizon) continue;
      const isContact = e.streamId.startsWith('contact-');
      for (const kind of kindsOfEventType(e.type)) {
        for (const s of subs) {
          if (!s.kinds.includes(kind)) continue;
          rows.push({
            id: deliveryIdOf(s.id, e.id, kind),
            instance_id: instanceId,
            webhook_id: s.id,
            event_id: e.id,
            event_type: e.type,
            kind,
            contact_id: isContact ? entityOf(e.streamId) : null,
            event_position: positionToString(e.position),
            body: deliveryBody(kind, e),
            status: 'PENDING',
            attempts: 0,
            created_at: e.metadata.occurredAt,
          });
        }
      }
    }
    for (let i = 0; i < rows.length; i += 500) {
      await trx
        .insertInto('webhook_deliveries')
        .values(rows.slice(i, i + 500))
        .onConflict((c) => c.column('id').doNothing())
        .execute();
    }
    if (rows.length > 0) changes.publish(webhookDeliveriesTopic, {});
  },
};

async function applyWebhookEvent(trx: Trx, id: string, event: WebhookEvent, m: EventMetadata): Promise<void> {
  const update = (set: Partial<{ url: string; event_kinds: string; secret_salt: string; paused_reason: string | null; paused_at: string | null; deleted_at: string }>) =>
    trx.updateTable('webhooks').set({ ...set, updated_at: m.occurredAt }).where('instance_id', '=', m.instanceId).where('id', '=', id).execute();
  switch (event.type) {
    case 'WebhookCreated':
      await trx
        .insertInto('webhooks')
        .values({
          instance_id: m.instanceId,
          id: event.data.webhookId,
          url: event.data.url,
          event_kinds: JSON.stringify(event.data.eventKinds),
          secret_salt: event.data.secretSalt,
          created_at: m.occurredAt,
          updated_at: m.occurredAt,
        })
        .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
        .execute();
      return;
    case 'WebhookUpdated':
      await update({
        ...(event.data.url !== undefined ? { url: event.data.url } : {}),
        ...(event.data.eventKinds !== undefined ? { event_kinds: JSON.stringify(event.data.eventKinds) } : {}),
      });
      return;
    case 'WebhookSecretRotated':
      await update({ secret_salt: event.data.secretSalt });
      return;
    case 'WebhookPaused':
      await update({ paused_reason: event.data.reason, paused_at: event.data.at });
      return;
    case 'WebhookResumed':
      await update({ paused_reason: null, paused_at: null });
      // The retry time starts again for the delivery it stopped at.
      await trx.updateTable('webhook_deliveries').set({ first_failed_at: null, next_attempt_at: null }).where('webhook_id', '=', id).where('instance_id', '=', m.instanceId).where('status', '=', 'PENDING').execute();
      return;
    case 'WebhookDeleted':
      await update({ deleted_at: m.occurredAt });
      await trx.updateTable('webhook_deliveries').set({ status: 'CANCELLED' }).where('webhook_id', '=', id).where('instance_id', '=', m.instanceId).where('status', '=', 'PENDING').execute();
      return;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

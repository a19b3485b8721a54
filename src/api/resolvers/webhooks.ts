// Webhooks (issue 16): admins subscribe endpoints to event kinds, read the delivery log, pause, resume and
// replay. The URL is checked here against the address policy (DNS resolved: no server-side request forgery);
// the signing secret is derived, and shown only in create's and rotate's answers.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Selectable } from 'kysely';
import { checkWebhookUrl, type WebhookAddressPolicy } from '../../adapters/webhooks/webhook-address.ts';
import { newSecretSalt, webhookSecret } from '../../adapters/webhooks/webhook-signature.ts';
import { NotFoundError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import { webhookDecider, type WebhookCommand } from '../../domain/webhook/webhook.decide.ts';
import { webhookEventKindNames } from '../../domain/webhook/webhook.ts';
import type { ReadModelDb } from '../../projections/read-model-db.ts';
import { requireAdmin } from '../auth.ts';
import { commandMetadata, inInput, settle, settleShownOnce, type KefuContext } from '../context.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { id, parseInput, reason } from '../input.ts';

type WebhookRow = Selectable<ReadModelDb['webhooks']>;
type DeliveryRow = Selectable<ReadModelDb['webhook_deliveries']>;

/** What the API needs of webhooks: the address policy and the key secrets are derived with. */
export interface WebhookApiSettings {
  policy: WebhookAddressPolicy;
  secretKey: Uint8Array;
  /** Tells this process's dispatcher to look at its queues now (a resume, a replay). */
  wake?: () => void;
}

export interface WebhookView {
  id: string;
  instanceId: string;
  url: string;
  eventKinds: string[];
  status: 'ACTIVE' | 'PAUSED';
  pausedReason: string | null;
  pausedAt: Date | null;
  createdAt: Date;
}

function toWebhook(row: WebhookRow): WebhookView {
  return {
    id: row.id,
    instanceId: row.instance_id,
    url: row.url,
    eventKinds: row.event_kinds,
    status: row.paused_at === null ? 'ACTIVE' : 'PAUSED',
    pausedReason: row.paused_reason,
    pausedAt: row.paused_at === null ? null : new Date(row.paused_at),
    createdAt: new Date(row.created_at),
  };
}

const date = (v: Date | string | null) => (v === null ? null : new Date(v));

function toDelivery(row: DeliveryRow) {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    kind: row.kind,
    eventId: row.event_id,
    eventType: row.event_type,
    contactId: row.contact_id,
    status: row.status,
    attempts: row.attempts,
    lastError: row.last_error,
    lastStatusCode: row.last_status_code,
    lastAttemptAt: date(row.last_attempt_at),
    nextAttemptAt: date(row.next_attempt_at),
    deliveredAt: date(row.delivered_at),
    replayOf: row.replay_of,
    body: row.body,
    createdAt: new Date(row.created_at),
  };
}

function settings(ctx: KefuContext): WebhookApiSettings {
  const s = ctx.deps.webhooks;
  // Without the settings (an app built without webhooks) nothing can be signed: refuse rather than half-work.
  if (!s) throw new NotFoundError('Webhook support', 'in this process');
  return s;
}

async function loadWebhookRow(ctx: KefuContext, instanceId: string, webhookId: string): Promise<WebhookRow> {
  const row = await ctx.deps.db.selectFrom('webhooks').selectAll().where('instance_id', '=', instanceId).where('id', '=', webhookId).where('deleted_at', 'is', null).executeTakeFirst();
  if (!row) throw new NotFoundError('Webhook', webhookId);
  return row;
}

/** `showsSecret`: the answer shows the signing secret once, so the wait is settleShownOnce's. */
async function webhookCommand(ctx: KefuContext, instanceId: string, command: WebhookCommand, showsSecret = false) {
  const result = await inInput(ctx.deps.commands.handle(streams.webhook(instanceId, command.data.webhookId), webhookDecider, command));
  if (showsSecret) await settleShownOnce(ctx, result.position, 'webhooks', instanceId);
  else await settle(ctx, result.position, ['webhooks']);
  return result;
}

const kinds = z.array(z.enum(webhookEventKindNames as [string, ...string[]])).max(webhookEventKindNames.length * 2, 'too many kinds');
const url = z.string().max(2000, 'at most 2000 characters');
const createInput = z.object({ url, eventKinds: kinds });
const updateInput = z.object({ webhookId: id, url: url.nullish(), eventKinds: kinds.nullish() });
const idInput = z.object({ webhookId: id });
const pauseInput = z.object({ webhookId: id, reason: reason.nullish() });
const replayInput = z.object({ deliveryId: id });
const deliveriesArgs = z.object({
  first: z.number().int('must be a whole number').min(1, 'at least 1').max(200, 'at most 200').nullish(),
  after: z.string().max(500, 'not a cursor from this API').nullish(),
  status: z.enum(['PENDING', 'DELIVERED', 'CANCELLED']).nullish(),
});

export const webhookResolvers = {
  Query: {
    async webhooks(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const rows = await ctx.deps.db.selectFrom('webhooks').selectAll().where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').execute();
      return rows.map(toWebhook);
    },
    async webhook(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { id: webhookId } = parseInput(z.object({ id }), args, '');
      return toWebhook(await loadWebhookRow(ctx, p.instanceId, webhookId));
    },
  },
  Mutation: {
    async createWebhook(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createInput, args.input);
      const s = settings(ctx);
      const checked = await checkWebhookUrl(input.url, s.policy, 'input.url');
      const webhookId = randomUUID();
      const secretSalt = newSecretSalt();
      await webhookCommand(ctx, p.instanceId, { type: 'CreateWebhook', data: { webhookId, url: checked, eventKinds: input.eventKinds, secretSalt }, metadata: commandMetadata(ctx, p.instanceId) }, true);
      return { webhook: toWebhook(await loadWebhookRow(ctx, p.instanceId, webhookId)), secret: webhookSecret(s.secretKey, p.instanceId, webhookId, secretSalt) };
    },
    async updateWebhook(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(updateInput, args.input);
      const data: Extract<WebhookCommand, { type: 'UpdateWebhook' }>['data'] = { webhookId: input.webhookId };
      if (input.url != null) data.url = await checkWebhookUrl(input.url, settings(ctx).policy, 'input.url');
      if (input.eventKinds != null) data.eventKinds = input.eventKinds;
      await webhookCommand(ctx, p.instanceId, { type: 'UpdateWebhook', data, metadata: commandMetadata(ctx, p.instanceId) });
      return toWebhook(await loadWebhookRow(ctx, p.instanceId, input.webhookId));
    },
    async deleteWebhook(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { webhookId } = parseInput(idInput, args.input);
      const row = await loadWebhookRow(ctx, p.instanceId, webhookId);
      await webhookCommand(ctx, p.instanceId, { type: 'DeleteWebhook', data: { webhookId }, metadata: commandMetadata(ctx, p.instanceId) });
      return toWebhook(row);
    },
    async rotateWebhookSecret(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { webhookId } = parseInput(idInput, args.input);
      const s = settings(ctx);
      const secretSalt = newSecretSalt();
      await webhookCommand(ctx, p.instanceId, { type: 'RotateWebhookSecret', data: { webhookId, secretSalt }, metadata: commandMetadata(ctx, p.instanceId) }, true);
      return { webhook: toWebhook(await loadWebhookRow(ctx, p.instanceId, webhookId)), secret: webhookSecret(s.secretKey, p.instanceId, webhookId, secretSalt) };
    },
    async pauseWebhook(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(pauseInput, args.input);
      await webhookCommand(ctx, p.instanceId, { type: 'PauseWebhook', data: { webhookId: input.webhookId, reason: input.reason ?? 'paused by an admin' }, metadata: commandMetadata(ctx, p.instanceId) });
      return toWebhook(await loadWebhookRow(ctx, p.instanceId, input.webhookId));
    },
    async resumeWebhook(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { webhookId } = parseInput(idInput, args.input);
      await webhookCommand(ctx, p.instanceId, { type: 'ResumeWebhook', data: { webhookId }, metadata: commandMetadata(ctx, p.instanceId) });
      ctx.deps.webhooks?.wake?.();
      return toWebhook(await loadWebhookRow(ctx, p.instanceId, webhookId));
    },
    async replayWebhookDelivery(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { deliveryId } = parseInput(replayInput, args.input);
      const original = await ctx.deps.db.selectFrom('webhook_deliveries').selectAll().where('instance_id', '=', p.instanceId).where('id', '=', deliveryId).executeTakeFirst();
      if (!original) throw new NotFoundError('Webhook delivery', deliveryId);
      await loadWebhookRow(ctx, p.instanceId, original.webhook_id);
      const replay = await ctx.deps.db
        .insertInto('webhook_deliveries')
        .values({
          id: randomUUID(),
          instance_id: p.instanceId,
          webhook_id: original.webhook_id,
          event_id: original.event_id,
          event_type: original.event_type,
          kind: original.kind,
          contact_id: original.contact_id,
          event_position: original.event_position,
          body: original.body,
          status: 'PENDING',
          attempts: 0,
          replay_of: original.replay_of ?? original.id,
          created_at: ctx.deps.clock(),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      ctx.deps.webhooks?.wake?.();
      return toDelivery(replay);
    },
  },
  Webhook: {
    async pendingDeliveries(hook: WebhookView, _: unknown, ctx: KefuContext) {
      const r = await ctx.deps.db
        .selectFrom('webhook_deliveries')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('instance_id', '=', hook.instanceId)
        .where('webhook_id', '=', hook.id)
        .where('status', '=', 'PENDING')
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    async deliveries(hook: WebhookView, rawArgs: unknown, ctx: KefuContext) {
      const args = parseInput(deliveriesArgs, rawArgs, '');
      const first = args.first ?? 50;
      let q = ctx.deps.db.selectFrom('webhook_deliveries').selectAll().where('instance_id', '=', hook.instanceId).where('webhook_id', '=', hook.id);
      if (args.status) q = q.where('status', '=', args.status);
      if (args.after) {
        const [iso, after] = decodeCursor(args.after);
        const at = new Date(iso);
        q = q.where((eb) => eb.or([eb('created_at', '<', at), eb.and([eb('created_at', '=', at), eb('id', '<', after)])]));
      }
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(first + 1).execute();
      return pageOf(rows, first, (row) => ({ created_at: row.created_at, id: row.id }), toDelivery);
    },
  },
};

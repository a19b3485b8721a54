// Blacklist (PH-6, OL-7, AD-3): agents and admins add customers, supervisors and admins list and remove
// entries; contact creation asks findBlacklistEntry before a contact reaches a queue.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import { blacklistDecider } from '../../domain/blacklist/blacklist.decide.ts';
import { entryInForce, normalizeIdentity } from '../../domain/blacklist/blacklist.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import type { Channel } from '../../domain/skill-group/skill-group.ts';
import { streams } from '../../domain/streams.ts';
import type { BlacklistEntryRow } from '../../projections/blacklist/blacklist.projection.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { isSupervisor, requireInstance, requireSupervisor, type InstancePrincipal } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { customerIdentity, expiry, id, parseInput, reason } from '../input.ts';
import { toAgent } from './agents.ts';

export interface BlacklistEntryView {
  id: string;
  instanceId: string;
  channel: string;
  identity: string;
  reason: string;
  expiresAt: Date | null;
  active: boolean;
  byAgentId: string | null;
  contactId: string | null;
  createdAt: Date;
  removedAt: Date | null;
}

const asDate = (v: Date | string) => new Date(v);

export function toBlacklistEntry(row: BlacklistEntryRow, now: Date): BlacklistEntryView {
  const expiresAt = row.expires_at === null ? null : asDate(row.expires_at);
  return {
    id: row.id,
    instanceId: row.instance_id,
    channel: row.channel,
    identity: row.identity,
    reason: row.reason,
    expiresAt,
    active: row.removed_at === null && (expiresAt === null || expiresAt.getTime() > now.getTime()),
    byAgentId: row.by_agent_id,
    contactId: row.contact_id,
    createdAt: asDate(row.created_at),
    removedAt: row.removed_at === null ? null : asDate(row.removed_at),
  };
}

/**
 * The entry in force that keeps this customer out of `channel` at `now`, or null. Identities compare
 * normalized, as the blacklist stores them. Contact creation calls this before queueing a contact.
 */
export async function findBlacklistEntry(
  db: ReadModel,
  instanceId: string,
  channel: Channel,
  identity: string,
  now: Date,
): Promise<BlacklistEntryView | null> {
  const row = await db
    .selectFrom('blacklist_entries')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('channel', '=', channel)
    .where('identity', '=', normalizeIdentity(identity))
    .where('removed_at', 'is', null)
    .where(sql<boolean>`(expires_at IS NULL OR expires_at > ${now.toISOString()}::timestamptz)`)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? toBlacklistEntry(row, now) : null;
}

async function loadEntryRow(ctx: KefuContext, instanceId: string, entryId: string): Promise<BlacklistEntryRow> {
  const row = await ctx.deps.db.selectFrom('blacklist_entries').selectAll().where('instance_id', '=', instanceId).where('id', '=', entryId).executeTakeFirst();
  if (!row) throw new NotFoundError('Blacklist entry', entryId);
  return row;
}

const channel = z.enum(['PHONE', 'ONLINE', 'AV']);
/** At `now`: an expiry is at most 100 years ahead (values.ts), so every entry is one the read model holds. */
const addToBlacklistInput = (now: Date) =>
  z.object({
    channel,
    identity: customerIdentity,
    reason,
    expiresAt: expiry(now).nullish(),
    contactId: id.nullish(),
  });
type AddToBlacklistInput = z.infer<ReturnType<typeof addToBlacklistInput>>;
const blacklistArgs = z.object({
  channel: channel.nullish(),
  first: z.number().int().min(0, 'must not be negative').max(200, 'at most 200').nullish(),
  after: z.string().max(500).nullish(),
  includeInactive: z.boolean().nullish(),
});

/**
 * With a contact named, the entry must be about that contact's customer, and an agent (role AGENT) must
 * hold or have held it; supervisors and admins may name any contact of the instance. A contact the caller
 * may not see is NOT_FOUND, as in the contact queries.
 */
async function checkContact(ctx: KefuContext, p: InstancePrincipal, input: AddToBlacklistInput, contactId: string) {
  const row = await ctx.deps.db
    .selectFrom('contacts')
    .select(['agent_id', 'channel', 'customer'])
    .where('instance_id', '=', p.instanceId)
    .where('id', '=', contactId)
    .executeTakeFirst();
  const mayName = p.kind === 'apiKey' || isSupervisor(p) || row?.agent_id === p.agentId;
  if (!row || !mayName) throw new NotFoundError('Contact', contactId);
  if (row.channel !== input.channel) throw new ValidationError('input.channel', `contact ${contactId} is a ${row.channel} contact`);
  if (normalizeIdentity(row.customer.id) !== normalizeIdentity(input.identity)) {
    throw new ValidationError('input.identity', `not the customer of contact ${contactId}`);
  }
}

export const blacklistResolvers = {
  Query: {
    async blacklist(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const p = requireSupervisor(ctx.principal);
      const args = parseInput(blacklistArgs, rawArgs, '');
      const first = args.first ?? 50;
      const now = ctx.deps.clock();
      let q = ctx.deps.db.selectFrom('blacklist_entries').where('instance_id', '=', p.instanceId);
      if (args.channel) q = q.where('channel', '=', args.channel);
      if (!args.includeInactive) {
        q = q.where('removed_at', 'is', null).where(sql<boolean>`(expires_at IS NULL OR expires_at > ${now.toISOString()}::timestamptz)`);
      }
      const total = await q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      let page = q.selectAll();
      if (args.after) {
        const [at, entryId] = decodeCursor(args.after);
        page = page.where(sql<boolean>`(created_at, id) < (${at}::timestamptz, ${entryId})`);
      }
      const rows = await page.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(first + 1).execute();
      const edges = rows.slice(0, first).map((row) => ({ cursor: encodeCursor(row), node: toBlacklistEntry(row, now) }));
      return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null }, totalCount: Number(total.n) };
    },
  },
  Mutation: {
    async addToBlacklist(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      if (p.kind === 'apiKey' && p.role !== 'ADMIN') throw new ForbiddenError('Agents and admins add customers to the blacklist');
      const input = parseInput(addToBlacklistInput(ctx.deps.clock()), args.input);
      if (input.contactId) await checkContact(ctx, p, input, input.contactId);
      const entryId = randomUUID();
      const metadata = commandMetadata(ctx, p.instanceId);
      const result = await inInput(
        ctx.deps.commands.handle(streams.blacklist(p.instanceId), blacklistDecider, {
          type: 'AddToBlacklist',
          data: {
            entryId,
            channel: input.channel,
            identity: input.identity,
            reason: input.reason,
            expiresAt: input.expiresAt ? input.expiresAt.toISOString() : null,
            byAgentId: p.kind === 'agent' ? p.agentId : null,
            contactId: input.contactId ?? null,
          },
          metadata,
        }),
      );
      await settle(ctx, result.position, ['blacklist']);
      // Nothing appended: the customer already has an entry in force, which is the answer.
      const shownId = result.events.length > 0 ? entryId : entryInForce(result.state, input.channel, input.identity, metadata.now)?.entryId;
      const row = shownId
        ? await ctx.deps.db.selectFrom('blacklist_entries').selectAll().where('instance_id', '=', p.instanceId).where('id', '=', shownId).executeTakeFirst()
        : undefined;
      if (!row) throw new ConflictError('This customer was blacklisted a moment ago by someone else; try again');
      return toBlacklistEntry(row, ctx.deps.clock());
    },
    async removeFromBlacklist(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireSupervisor(ctx.principal);
      const input = parseInput(z.object({ id }), args.input);
      const result = await inInput(
        ctx.deps.commands.handle(streams.blacklist(p.instanceId), blacklistDecider, {
          type: 'RemoveBlacklistEntry',
          data: { entryId: input.id },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      await settle(ctx, result.position, ['blacklist']);
      return toBlacklistEntry(await loadEntryRow(ctx, p.instanceId, input.id), ctx.deps.clock());
    },
  },
  BlacklistEntry: {
    async agent(e: BlacklistEntryView, _: unknown, ctx: KefuContext) {
      if (!e.byAgentId) return null;
      const row = await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', e.instanceId).where('id', '=', e.byAgentId).executeTakeFirst();
      return row ? toAgent(row) : null;
    },
  },
};

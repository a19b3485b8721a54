// Screen pop (PH-5, OL-6, AV-8, WS-4, AD-5): admins set the CRM page offers open and rotate the key its
// URLs are signed with; offers carry the filled, signed URL (screenPopFor).
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { instanceDecider } from '../../domain/instance/instance.decide.ts';
import { NotFoundError } from '../../domain/errors.ts';
import { buildScreenPopUrl, screenPopPlaceholders } from '../../domain/screen-pop/screen-pop-url.ts';
import { streams } from '../../domain/streams.ts';
import type { ContactRow } from '../../projections/contacts/contacts.projection.ts';
import type { ReadModel } from '../../projections/projection.ts';
import type { ReadModelDb } from '../../projections/read-model-db.ts';
import { requireAdmin, requireInstance } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { randomToken } from '../credentials.ts';
import { parseInput } from '../input.ts';

type InstanceRow = Selectable<ReadModelDb['instances']>;
type ScreenPopColumns = Pick<InstanceRow, 'screen_pop_url_template' | 'screen_pop_pinned' | 'screen_pop_secret' | 'screen_pop_secret_rotated_at'>;

/** The setting as the API shows it: never the secret, only whether there is one. */
export function toScreenPop(row: ScreenPopColumns) {
  const hasSecret = row.screen_pop_secret !== null;
  return {
    urlTemplate: row.screen_pop_url_template,
    pinned: row.screen_pop_pinned,
    hasSecret,
    secretRotatedAt: row.screen_pop_secret_rotated_at,
    enabled: hasSecret && row.screen_pop_url_template !== null,
    placeholders: screenPopPlaceholders.map((p) => `{${p}}`),
  };
}

async function loadScreenPop(db: ReadModel, instanceId: string): Promise<ScreenPopColumns> {
  const row = await db
    .selectFrom('instances')
    .select(['screen_pop_url_template', 'screen_pop_pinned', 'screen_pop_secret', 'screen_pop_secret_rotated_at'])
    .where('id', '=', instanceId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('Instance', instanceId);
  return row;
}

/**
 * The screen pop of an offer of this contact: the instance's template filled and signed at `now`, or null
 * when screen pop is off (no template, or no secret yet to sign with).
 */
export async function screenPopFor(
  db: ReadModel,
  instanceId: string,
  contactRow: Pick<ContactRow, 'id' | 'channel' | 'customer' | 'skill_group_id' | 'key_trail' | 'data'>,
  now: Date,
): Promise<{ url: string; pinned: boolean } | null> {
  const setting = await db
    .selectFrom('instances')
    .select(['screen_pop_url_template', 'screen_pop_pinned', 'screen_pop_secret'])
    .where('id', '=', instanceId)
    .executeTakeFirst();
  if (!setting?.screen_pop_url_template || !setting.screen_pop_secret) return null;
  const keyTrail = ((contactRow.key_trail ?? []) as { key?: unknown; label?: unknown }[]).map((k) => ({
    key: String(k.key ?? ''),
    label: typeof k.label === 'string' ? k.label : null,
  }));
  const url = buildScreenPopUrl({
    urlTemplate: setting.screen_pop_url_template,
    secret: setting.screen_pop_secret,
    contact: {
      contactId: contactRow.id,
      channel: contactRow.channel,
      customerId: contactRow.customer.id,
      skillGroupId: contactRow.skill_group_id,
      keyTrail,
      data: (contactRow.data ?? {}) as Record<string, string>,
    },
    now,
  });
  return { url, pinned: setting.screen_pop_pinned };
}

const configureScreenPopInput = z.object({
  // null turns screen pop off, absent keeps it; the template's rules (http(s), known placeholders) are the decider's.
  urlTemplate: z.string().trim().min(1, 'must not be empty; null turns screen pop off').max(2000, 'at most 2000 characters').nullish(),
  pinned: z.boolean().nullish(),
});

async function instanceCommand(ctx: KefuContext, instanceId: string, command: Parameters<typeof instanceDecider.decide>[0]) {
  const result = await inInput(ctx.deps.commands.handle(streams.instance(instanceId), instanceDecider, command));
  await settle(ctx, result.position, ['instances']);
  return result;
}

export const screenPopResolvers = {
  Query: {
    async screenPop(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      return toScreenPop(await loadScreenPop(ctx.deps.db, p.instanceId));
    },
  },
  Mutation: {
    async configureScreenPop(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(configureScreenPopInput, args.input);
      await instanceCommand(ctx, p.instanceId, {
        type: 'ConfigureScreenPop',
        data: {
          ...(input.urlTemplate !== undefined && { urlTemplate: input.urlTemplate }),
          ...(input.pinned !== undefined && input.pinned !== null && { pinned: input.pinned }),
        },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toScreenPop(await loadScreenPop(ctx.deps.db, p.instanceId));
    },
    async rotateScreenPopSecret(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const secret = randomToken(32);
      await instanceCommand(ctx, p.instanceId, { type: 'RotateScreenPopSecret', data: { secret }, metadata: commandMetadata(ctx, p.instanceId) });
      return { secret, screenPop: toScreenPop(await loadScreenPop(ctx.deps.db, p.instanceId)) };
    },
  },
};

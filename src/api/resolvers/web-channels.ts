// Web channels (OL-2): admins create, change, delete them and rotate their identity secret. A channel's public
// key goes in the widget's script tag; its identity secret is shown only in create's and rotate's answers.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import { webChannelDecider, type NamedFlow, type NamedSkillGroup, type WebChannelCommand } from '../../domain/web-channel/web-channel.decide.ts';
import { effectiveReceptionPrompts, receptionPromptNames, workHoursValue, type ReceptionPrompts, type WorkHours } from '../../domain/web-channel/reception-prompts.ts';
import type { ReadModel } from '../../projections/projection.ts';
import type { WebChannelRow } from '../../projections/web-channels/web-channels.projection.ts';
import { requireAdmin } from '../auth.ts';
import { commandMetadata, inInput, settle, settleShownOnce, type ApiDeps, type KefuContext } from '../context.ts';
import { randomToken } from '../credentials.ts';
import { id, parseInput, storableText, text } from '../input.ts';
import { toFlow } from './flows.ts';
import { toSkillGroup } from './skill-groups.ts';
import { avSettingsGroupIds, type AvChannelSettings, type AvMenuEntrySetting } from '../../domain/web-channel/av-settings.ts';
import type { AvSettingsChange } from '../../domain/web-channel/web-channel.decide.ts';
import { avIconPath, existingAvIcons } from '../av-icons-route.ts';

export interface WebChannelView {
  id: string;
  instanceId: string;
  name: string;
  publicKey: string;
  allowedOrigins: string[];
  skillGroupId: string;
  welcomeText: string | null;
  flowId: string | null;
  enabled: boolean;
  createdAt: Date;
  receptionPrompts: ReceptionPrompts;
  workHours: { timeZone: string; weekly: WorkHours['weekly']; holidays: string[] } | null;
  av: AvChannelSettings | null;
}

export function toWebChannel(row: WebChannelRow): WebChannelView {
  return {
    id: row.id,
    instanceId: row.instance_id,
    name: row.name,
    publicKey: row.public_key,
    allowedOrigins: row.allowed_origins,
    skillGroupId: row.skill_group_id,
    welcomeText: row.welcome_text,
    flowId: row.flow_id,
    enabled: row.enabled,
    createdAt: new Date(row.created_at),
    receptionPrompts: effectiveReceptionPrompts({ welcomeText: row.welcome_text, receptionPrompts: row.reception_prompts }),
    workHours: row.work_hours
      ? { timeZone: row.work_hours.timeZone, weekly: row.work_hours.weekly, holidays: row.work_hours.holidays.map((h) => (typeof h === 'string' ? h : h.date)) }
      : null,
    av: row.av_settings ?? null,
  };
}

/** Where the widget loads an entry's icon from; null: none. */
export function avIconUrlOf(instanceId: string, entry: Pick<AvMenuEntrySetting, 'icon'>): string | null {
  if (!entry.icon) return null;
  return 'fileId' in entry.icon ? avIconPath(instanceId, entry.icon.fileId) : entry.icon.url;
}

/** The AV settings as the decider checks them: the input with the skill groups and uploaded icons it names, as found in the instance. */
async function avSettingsChange(deps: ApiDeps, instanceId: string, input: unknown): Promise<AvSettingsChange> {
  if (input === null) return null;
  const ids = avSettingsGroupIds(input).filter((id) => z.uuid().safeParse(id).success);
  const rows = ids.length === 0 ? [] : await deps.db.selectFrom('skill_groups').select(['id', 'channel']).where('instance_id', '=', instanceId).where('id', 'in', ids).where('deleted_at', 'is', null).execute();
  const menu = (input as { menu?: unknown } | null)?.menu;
  const iconIds = Array.isArray(menu) ? menu.map((e) => (e as { iconFileId?: unknown } | null)?.iconFileId).filter((x): x is string => typeof x === 'string') : [];
  return { input, groups: new Map(rows.map((r) => [r.id, r])), icons: await existingAvIcons(deps, instanceId, iconIds) };
}

/** Work hours as the API shows them (WeChat accounts, issue 13; as toWebChannel shows a channel's). */
export function workHoursView(hours: WorkHours | null): WebChannelView['workHours'] {
  return hours ? { timeZone: hours.timeZone, weekly: hours.weekly, holidays: hours.holidays.map((h) => (typeof h === 'string' ? h : h.date)) } : null;
}

/** A widget's key: `wc_` and 144 random bits. Public (it sits in pages), so it only needs to be unguessable enough not to collide. */
export function newPublicKey(): string {
  return `wc_${randomToken(18)}`;
}

/** An identity secret: 256 random bits, base64url. */
function newIdentitySecret(): string {
  return randomToken(32);
}

/** A live (not deleted) web channel of the instance. */
export async function loadWebChannelRow(db: ReadModel, instanceId: string, webChannelId: string): Promise<WebChannelRow> {
  const row = await db
    .selectFrom('web_channels')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('id', '=', webChannelId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('Web channel', webChannelId);
  return row;
}

/** The skill group as the decider needs it: null when the instance has no such (live) group. */
async function namedSkillGroup(db: ReadModel, instanceId: string, skillGroupId: string): Promise<NamedSkillGroup> {
  const row = await db
    .selectFrom('skill_groups')
    .select(['id', 'channel'])
    .where('instance_id', '=', instanceId)
    .where('id', '=', skillGroupId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row ?? null;
}

/** The flow as the decider needs it: null when the instance has no such (live) flow. */
async function namedFlow(db: ReadModel, instanceId: string, flowId: string): Promise<NamedFlow> {
  const row = await db.selectFrom('flows').select(['id', 'kind']).where('instance_id', '=', instanceId).where('id', '=', flowId).where('deleted_at', 'is', null).executeTakeFirst();
  return row ?? null;
}

/** `showsSecret`: the answer shows the identity secret once, so the wait is settleShownOnce's. */
async function webChannelCommand(ctx: KefuContext, instanceId: string, command: WebChannelCommand, showsSecret = false) {
  const result = await inInput(ctx.deps.commands.handle(streams.webChannel(instanceId, command.data.webChannelId), webChannelDecider, command));
  if (showsSecret) await settleShownOnce(ctx, result.position, 'webChannels', instanceId);
  else await settle(ctx, result.position, ['webChannels']);
  // Customer tokens of this channel are checked against the new row from now on (other processes: within KEFU_AUTH_CACHE_MS).
  ctx.deps.auth.forgetWebChannel(instanceId, command.data.webChannelId);
  return result;
}

/** Origins are checked (and normalized) by the decider, which names the one at fault. */
const origins = z.array(z.string().max(300, 'at most 300 characters')).max(50, 'at most 50 origins');
const welcomeText = storableText(1000);
/** A prompt's text is checked by the decider (its placeholders); here only what the stores hold. */
const promptInput = z.object({ enabled: z.boolean().nullish(), text: storableText(1000).nullish() });
/** Also WeChat accounts' (issue 13): one definition of the reception settings' input. */
export const receptionPromptsInput = z.object({
  ...Object.fromEntries(receptionPromptNames.map((n) => [n, promptInput.nullish()])),
  idleReminderSeconds: z.number().int('a whole number').nullish(),
  queueUpdateSeconds: z.number().int('a whole number').nullish(),
}) as z.ZodType<{ [K in (typeof receptionPromptNames)[number]]?: z.infer<typeof promptInput> | null } & { idleReminderSeconds?: number | null; queueUpdateSeconds?: number | null }>;
const workHoursInput = workHoursValue;
const createInput = z.object({
  name: text({ max: 200 }),
  allowedOrigins: origins,
  skillGroupId: id,
  welcomeText: welcomeText.nullish(),
  flowId: id.nullish(),
  receptionPrompts: receptionPromptsInput.nullish(),
  workHours: workHoursInput.nullish(),
  /** Checked by the decider (av-settings.ts), which names the field at fault. */
  av: z.unknown().optional(),
});
const updateInput = z.object({
  webChannelId: id,
  name: text({ max: 200 }).nullish(),
  allowedOrigins: origins.nullish(),
  skillGroupId: id.nullish(),
  welcomeText: welcomeText.nullish(),
  /** "" unbinds the flow; null or absent keeps it. */
  flowId: z.union([id, z.literal('')]).nullish(),
  enabled: z.boolean().nullish(),
  receptionPrompts: receptionPromptsInput.nullish(),
  /** null: always open; absent: kept. */
  workHours: workHoursInput.nullish(),
  /** null: not configured; absent: kept. */
  av: z.unknown().optional(),
});

/** The decider's change from the API's input: per prompt, then the timings. */
export function promptsChange(input: z.infer<typeof receptionPromptsInput>) {
  const { idleReminderSeconds, queueUpdateSeconds, ...prompts } = input;
  return {
    prompts: Object.fromEntries(Object.entries(prompts).filter(([, p]) => p != null).map(([n, p]) => [n, { enabled: p!.enabled ?? null, ...(p!.text !== undefined ? { text: p!.text } : {}) }])),
    idleReminderSeconds: idleReminderSeconds ?? null,
    queueUpdateSeconds: queueUpdateSeconds ?? null,
  };
}
const idInput = z.object({ webChannelId: id });

export const webChannelResolvers = {
  AvMenuEntrySetting: {
    async skillGroup(entry: { instanceId: string; skillGroupId: string }, _: unknown, ctx: KefuContext) {
      const row = await ctx.deps.db.selectFrom('skill_groups').selectAll().where('instance_id', '=', entry.instanceId).where('id', '=', entry.skillGroupId).where('deleted_at', 'is', null).executeTakeFirst();
      return row ? toSkillGroup(row) : null;
    },
  },
  Query: {
    async webChannels(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const rows = await ctx.deps.db.selectFrom('web_channels').selectAll().where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null).orderBy('name').orderBy('id').execute();
      return rows.map(toWebChannel);
    },
  },
  Mutation: {
    async createWebChannel(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createInput, args.input);
      const webChannelId = randomUUID();
      const identitySecret = newIdentitySecret();
      await webChannelCommand(ctx, p.instanceId, {
        type: 'CreateWebChannel',
        data: {
          webChannelId,
          name: input.name,
          allowedOrigins: input.allowedOrigins,
          skillGroupId: input.skillGroupId,
          skillGroup: await namedSkillGroup(ctx.deps.db, p.instanceId, input.skillGroupId),
          welcomeText: input.welcomeText ?? null,
          ...(input.flowId ? { flowId: input.flowId, flow: await namedFlow(ctx.deps.db, p.instanceId, input.flowId) } : {}),
          ...(input.receptionPrompts ? { receptionPrompts: promptsChange(input.receptionPrompts) } : {}),
          ...(input.workHours ? { workHours: input.workHours } : {}),
          ...(input.av != null ? { avSettings: await avSettingsChange(ctx.deps, p.instanceId, input.av) } : {}),
          publicKey: newPublicKey(),
          identitySecret,
        },
        metadata: commandMetadata(ctx, p.instanceId),
      }, true);
      return { webChannel: toWebChannel(await loadWebChannelRow(ctx.deps.db, p.instanceId, webChannelId)), identitySecret };
    },
    async updateWebChannel(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(updateInput, args.input);
      const data: Extract<WebChannelCommand, { type: 'UpdateWebChannel' }>['data'] = { webChannelId: input.webChannelId };
      if (input.name != null) data.name = input.name;
      if (input.allowedOrigins != null) data.allowedOrigins = input.allowedOrigins;
      if (input.skillGroupId != null) {
        data.skillGroupId = input.skillGroupId;
        data.skillGroup = await namedSkillGroup(ctx.deps.db, p.instanceId, input.skillGroupId);
      }
      // "" clears the welcome text; null or absent keeps it.
      if (input.welcomeText != null) data.welcomeText = input.welcomeText;
      if (input.flowId === '') data.flowId = null;
      else if (input.flowId != null) {
        data.flowId = input.flowId;
        data.flow = await namedFlow(ctx.deps.db, p.instanceId, input.flowId);
      }
      if (input.enabled != null) data.enabled = input.enabled;
      if (input.receptionPrompts != null) data.receptionPrompts = promptsChange(input.receptionPrompts);
      if (input.workHours !== undefined) data.workHours = input.workHours;
      if (input.av !== undefined) data.avSettings = await avSettingsChange(ctx.deps, p.instanceId, input.av);
      await webChannelCommand(ctx, p.instanceId, { type: 'UpdateWebChannel', data, metadata: commandMetadata(ctx, p.instanceId) });
      return toWebChannel(await loadWebChannelRow(ctx.deps.db, p.instanceId, input.webChannelId));
    },
    async deleteWebChannel(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { webChannelId } = parseInput(idInput, args.input);
      const row = await loadWebChannelRow(ctx.deps.db, p.instanceId, webChannelId);
      await webChannelCommand(ctx, p.instanceId, { type: 'DeleteWebChannel', data: { webChannelId }, metadata: commandMetadata(ctx, p.instanceId) });
      return { ...toWebChannel(row), enabled: false };
    },
    async rotateWebChannelSecret(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { webChannelId } = parseInput(idInput, args.input);
      const identitySecret = newIdentitySecret();
      await webChannelCommand(ctx, p.instanceId, { type: 'RotateWebChannelSecret', data: { webChannelId, identitySecret }, metadata: commandMetadata(ctx, p.instanceId) }, true);
      return { webChannel: toWebChannel(await loadWebChannelRow(ctx.deps.db, p.instanceId, webChannelId)), identitySecret };
    },
  },
  WebChannel: {
    av(channel: WebChannelView) {
      if (!channel.av) return null;
      return {
        ...channel.av,
        menu: channel.av.menu.map((e) => ({
          ...e,
          instanceId: channel.instanceId,
          iconFileId: e.icon && 'fileId' in e.icon ? e.icon.fileId : null,
          iconUrl: avIconUrlOf(channel.instanceId, e),
        })),
      };
    },
    async skillGroup(channel: WebChannelView, _: unknown, ctx: KefuContext) {
      const row = await ctx.deps.db
        .selectFrom('skill_groups')
        .selectAll()
        .where('instance_id', '=', channel.instanceId)
        .where('id', '=', channel.skillGroupId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      return row ? toSkillGroup(row) : null;
    },
    async flow(channel: WebChannelView, _: unknown, ctx: KefuContext) {
      if (channel.flowId === null) return null;
      const row = await ctx.deps.db
        .selectFrom('flows')
        .selectAll()
        .where('instance_id', '=', channel.instanceId)
        .where('id', '=', channel.flowId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      return row ? toFlow(row) : null;
    },
  },
};

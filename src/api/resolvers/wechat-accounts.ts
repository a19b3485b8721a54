// WeChat accounts (issue 13): admins create, change and delete them. The AppSecret, token and EncodingAESKey go
// in once and are stored sealed (wechat-secrets.ts); the answers show the callback URL, never a secret.
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import type { NamedFlow, NamedSkillGroup } from '../../domain/web-channel/web-channel.decide.ts';
import { wechatAccountDecider, type WechatAccountCommand } from '../../domain/wechat-account/wechat-account.decide.ts';
import { defaultWechatSendQuota, wechatPromptsDefaultEnabled, type WechatAccountKind, type WechatDataFormat, type WechatMessageMode } from '../../domain/wechat-account/wechat-account.ts';
import type { ReadModel } from '../../projections/projection.ts';
import type { WechatAccountRow } from '../../projections/wechat-accounts/wechat-accounts.projection.ts';
import { SecretBox } from '../../adapters/wechat/wechat-secrets.ts';
import { isEncodingAesKey } from '../../adapters/wechat/wechat-crypto.ts';
import { requireAdmin } from '../auth.ts';
import { commandMetadata, inInput, settle, type ApiDeps, type KefuContext } from '../context.ts';
import { id, parseInput, text } from '../input.ts';
import { toFlow } from './flows.ts';
import { toSkillGroup } from './skill-groups.ts';
import { miniProgramCardsValue, type MiniProgramCard } from '../../domain/contact/chat-link.ts';
import { promptsChange, receptionPromptsInput, workHoursView, type WebChannelView } from './web-channels.ts';
import { effectiveReceptionPrompts, workHoursValue, type ReceptionPrompts } from '../../domain/web-channel/reception-prompts.ts';

/** What the WeChat side of the API needs: the secrets' box and the address WeChat reaches Kefu at. */
export interface WechatApiSettings {
  secrets: SecretBox;
  publicUrl: string;
  /** KEFU_WECHAT_API_BASE. */
  apiBase: string;
  /** KEFU_WECHAT_ANSWER_WAIT_MS: how long the callback's answer waits for a kept push's effect (default 0). */
  answerWaitMs?: number;
  /** An agent typing in a WeChat chat (the outbox passes it on as WeChat's typing indicator). */
  agentTyping?: (instanceId: string, contactId: string, typing: boolean) => Promise<void>;
  /** PostgreSQL: a small pool of the callback's own, where pushes are kept before the answer (wechat-intake.ts keepDb). */
  intakeDb?: ReadModel;
}

const fallback = new WeakMap<object, WechatApiSettings>();

/** The settings, or (deps assembled by hand in tests) a box with a key of its own. */
export function wechatSettingsOf(deps: ApiDeps): WechatApiSettings {
  if (deps.wechat) return deps.wechat;
  let s = fallback.get(deps);
  if (!s) {
    s = { secrets: new SecretBox(randomBytes(32)), publicUrl: 'http://127.0.0.1:4000', apiBase: 'https://api.weixin.qq.com' };
    fallback.set(deps, s);
  }
  return s;
}

/** The path of an account's callback: the instance and the account, so one account's pushes never reach another's. */
export function wechatCallbackPath(instanceId: string, wechatAccountId: string): string {
  return `/wechat/callback/${instanceId}/${wechatAccountId}`;
}

export interface WechatAccountView {
  id: string;
  instanceId: string;
  name: string;
  kind: WechatAccountKind;
  appId: string;
  originalId: string | null;
  messageMode: WechatMessageMode;
  dataFormat: WechatDataFormat;
  skillGroupId: string;
  flowId: string | null;
  sendQuota: number;
  enabled: boolean;
  callbackUrl: string;
  hasEncodingAesKey: boolean;
  createdAt: Date;
  receptionPrompts: ReceptionPrompts;
  workHours: WebChannelView['workHours'];
  miniProgramCards: MiniProgramCard[];
}

export function toWechatAccount(row: WechatAccountRow, publicUrl: string): WechatAccountView {
  return {
    id: row.id,
    instanceId: row.instance_id,
    name: row.name,
    kind: row.kind as WechatAccountKind,
    appId: row.app_id,
    originalId: row.original_id,
    messageMode: row.message_mode as WechatMessageMode,
    dataFormat: row.data_format as WechatDataFormat,
    skillGroupId: row.skill_group_id,
    flowId: row.flow_id,
    sendQuota: row.send_quota,
    enabled: row.enabled,
    callbackUrl: `${publicUrl.replace(/\/+$/, '')}${wechatCallbackPath(row.instance_id, row.id)}`,
    hasEncodingAesKey: row.encoding_aes_key !== null,
    createdAt: new Date(row.created_at),
    receptionPrompts: effectiveReceptionPrompts({ welcomeText: row.welcome_text, receptionPrompts: row.reception_prompts }, wechatPromptsDefaultEnabled),
    workHours: workHoursView(row.work_hours),
    miniProgramCards: row.mini_program_cards ?? [],
  };
}

export async function loadWechatAccountRow(db: ReadModel, instanceId: string, wechatAccountId: string): Promise<WechatAccountRow> {
  const row = await db.selectFrom('wechat_accounts').selectAll().where('instance_id', '=', instanceId).where('id', '=', wechatAccountId).where('deleted_at', 'is', null).executeTakeFirst();
  if (!row) throw new NotFoundError('WeChat account', wechatAccountId);
  return row;
}

async function namedSkillGroup(db: ReadModel, instanceId: string, skillGroupId: string): Promise<NamedSkillGroup> {
  const row = await db.selectFrom('skill_groups').select(['id', 'channel']).where('instance_id', '=', instanceId).where('id', '=', skillGroupId).where('deleted_at', 'is', null).executeTakeFirst();
  return row ?? null;
}

async function namedFlow(db: ReadModel, instanceId: string, flowId: string): Promise<NamedFlow> {
  const row = await db.selectFrom('flows').select(['id', 'kind']).where('instance_id', '=', instanceId).where('id', '=', flowId).where('deleted_at', 'is', null).executeTakeFirst();
  return row ?? null;
}

async function wechatAccountCommand(ctx: KefuContext, instanceId: string, command: WechatAccountCommand) {
  const result = await inInput(ctx.deps.commands.handle(streams.wechatAccount(instanceId, command.data.wechatAccountId), wechatAccountDecider, command));
  await settle(ctx, result.position, ['wechatAccounts']);
  return result;
}

const kind = z.enum(['OFFICIAL_ACCOUNT', 'MINI_PROGRAM']);
const mode = z.enum(['PLAIN', 'COMPATIBLE', 'SAFE']);
const format = z.enum(['XML', 'JSON']);
// Shapes only; the decider checks the AppID, the original id and how the settings fit together.
const appId = z.string().max(40, 'at most 40 characters');
const appSecret = z.string().regex(/^[0-9a-f]{32}$/, 'must be the 32 hexadecimal characters the WeChat console shows');
const token = z.string().regex(/^[A-Za-z0-9]{3,32}$/, 'must be 3 to 32 letters and digits, as in the WeChat console');
const encodingAesKey = z.string().refine(isEncodingAesKey, 'must be the 43 characters the WeChat console shows');
const originalId = z.string().max(40, 'at most 40 characters');
const quota = z.number().int('must be a whole number').min(1, 'at least 1').max(1000, 'at most 1000');

const createInput = z.object({
  name: text({ max: 200 }),
  kind,
  appId,
  appSecret,
  token,
  encodingAesKey: encodingAesKey.nullish(),
  originalId: originalId.nullish(),
  messageMode: mode.nullish(),
  dataFormat: format.nullish(),
  skillGroupId: id,
  flowId: id.nullish(),
  sendQuota: quota.nullish(),
  receptionPrompts: receptionPromptsInput.nullish(),
  workHours: workHoursValue.nullish(),
  miniProgramCards: miniProgramCardsValue.nullish(),
});
const updateInput = z.object({
  wechatAccountId: id,
  name: text({ max: 200 }).nullish(),
  kind: kind.nullish(),
  appId: appId.nullish(),
  appSecret: appSecret.nullish(),
  token: token.nullish(),
  encodingAesKey: z.union([encodingAesKey, z.literal('')]).nullish(),
  originalId: z.union([originalId, z.literal('')]).nullish(),
  messageMode: mode.nullish(),
  dataFormat: format.nullish(),
  skillGroupId: id.nullish(),
  flowId: z.union([id, z.literal('')]).nullish(),
  sendQuota: quota.nullish(),
  enabled: z.boolean().nullish(),
  receptionPrompts: receptionPromptsInput.nullish(),
  /** null: always open; absent: kept. */
  workHours: workHoursValue.nullish(),
  miniProgramCards: miniProgramCardsValue.nullish(),
});
const idInput = z.object({ wechatAccountId: id });

export const wechatAccountResolvers = {
  Query: {
    async wechatAccounts(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const rows = await ctx.deps.db.selectFrom('wechat_accounts').selectAll().where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null).orderBy('name').orderBy('id').execute();
      const { publicUrl } = wechatSettingsOf(ctx.deps);
      return rows.map((r) => toWechatAccount(r, publicUrl));
    },
  },
  Mutation: {
    async createWechatAccount(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createInput, args.input);
      const { secrets, publicUrl } = wechatSettingsOf(ctx.deps);
      const wechatAccountId = randomUUID();
      await wechatAccountCommand(ctx, p.instanceId, {
        type: 'CreateWechatAccount',
        data: {
          wechatAccountId,
          name: input.name,
          kind: input.kind,
          appId: input.appId,
          originalId: input.originalId ?? null,
          messageMode: input.messageMode ?? 'PLAIN',
          dataFormat: input.dataFormat ?? 'XML',
          skillGroupId: input.skillGroupId,
          skillGroup: await namedSkillGroup(ctx.deps.db, p.instanceId, input.skillGroupId),
          flowId: input.flowId ?? null,
          ...(input.flowId ? { flow: await namedFlow(ctx.deps.db, p.instanceId, input.flowId) } : {}),
          sendQuota: input.sendQuota ?? defaultWechatSendQuota,
          appSecret: secrets.seal(input.appSecret),
          token: secrets.seal(input.token),
          encodingAesKey: input.encodingAesKey ? secrets.seal(input.encodingAesKey) : null,
          ...(input.receptionPrompts ? { receptionPrompts: promptsChange(input.receptionPrompts) } : {}),
          ...(input.workHours ? { workHours: input.workHours } : {}),
          ...(input.miniProgramCards ? { miniProgramCards: input.miniProgramCards } : {}),
        },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toWechatAccount(await loadWechatAccountRow(ctx.deps.db, p.instanceId, wechatAccountId), publicUrl);
    },
    async updateWechatAccount(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(updateInput, args.input);
      const { secrets, publicUrl } = wechatSettingsOf(ctx.deps);
      const data: Extract<WechatAccountCommand, { type: 'UpdateWechatAccount' }>['data'] = { wechatAccountId: input.wechatAccountId };
      if (input.name != null) data.name = input.name;
      if (input.kind != null) data.kind = input.kind;
      if (input.appId != null) data.appId = input.appId;
      if (input.appSecret != null) data.appSecret = secrets.seal(input.appSecret);
      if (input.token != null) data.token = secrets.seal(input.token);
      if (input.encodingAesKey === '') data.encodingAesKey = null;
      else if (input.encodingAesKey != null) data.encodingAesKey = secrets.seal(input.encodingAesKey);
      if (input.originalId === '') data.originalId = null;
      else if (input.originalId != null) data.originalId = input.originalId;
      if (input.messageMode != null) data.messageMode = input.messageMode;
      if (input.dataFormat != null) data.dataFormat = input.dataFormat;
      if (input.skillGroupId != null) {
        data.skillGroupId = input.skillGroupId;
        data.skillGroup = await namedSkillGroup(ctx.deps.db, p.instanceId, input.skillGroupId);
      }
      if (input.flowId === '') data.flowId = null;
      else if (input.flowId != null) {
        data.flowId = input.flowId;
        data.flow = await namedFlow(ctx.deps.db, p.instanceId, input.flowId);
      }
      if (input.sendQuota != null) data.sendQuota = input.sendQuota;
      if (input.enabled != null) data.enabled = input.enabled;
      if (input.receptionPrompts != null) data.receptionPrompts = promptsChange(input.receptionPrompts);
      if (input.workHours !== undefined) data.workHours = input.workHours;
      if (input.miniProgramCards != null) data.miniProgramCards = input.miniProgramCards;
      await wechatAccountCommand(ctx, p.instanceId, { type: 'UpdateWechatAccount', data, metadata: commandMetadata(ctx, p.instanceId) });
      return toWechatAccount(await loadWechatAccountRow(ctx.deps.db, p.instanceId, input.wechatAccountId), publicUrl);
    },
    async deleteWechatAccount(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { wechatAccountId } = parseInput(idInput, args.input);
      const row = await loadWechatAccountRow(ctx.deps.db, p.instanceId, wechatAccountId);
      await wechatAccountCommand(ctx, p.instanceId, { type: 'DeleteWechatAccount', data: { wechatAccountId }, metadata: commandMetadata(ctx, p.instanceId) });
      return { ...toWechatAccount(row, wechatSettingsOf(ctx.deps).publicUrl), enabled: false };
    },
  },
  WechatAccount: {
    async skillGroup(a: WechatAccountView, _: unknown, ctx: KefuContext) {
      const row = await ctx.deps.db.selectFrom('skill_groups').selectAll().where('instance_id', '=', a.instanceId).where('id', '=', a.skillGroupId).where('deleted_at', 'is', null).executeTakeFirst();
      return row ? toSkillGroup(row) : null;
    },
    async flow(a: WechatAccountView, _: unknown, ctx: KefuContext) {
      if (a.flowId === null) return null;
      const row = await ctx.deps.db.selectFrom('flows').selectAll().where('instance_id', '=', a.instanceId).where('id', '=', a.flowId).where('deleted_at', 'is', null).executeTakeFirst();
      return row ? toFlow(row) : null;
    },
  },
};

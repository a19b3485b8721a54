import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { NamedFlow, NamedSkillGroup } from '../web-channel/web-channel.decide.ts';
import { miniProgramCardsProblem, type MiniProgramCard } from '../contact/chat-link.ts';
import { receptionSettingsChange, type ReceptionPromptsChange, type WorkHours } from '../web-channel/reception-prompts.ts';
import type { ActiveWechatAccount, WechatAccountEvent, WechatAccountSecrets, WechatAccountSettings, WechatAccountState } from './wechat-account.ts';
import { evolveWechatAccount, initialWechatAccountState, wechatPromptsDefaultEnabled } from './wechat-account.ts';

/**
 * Secrets come in sealed by the caller (decide stays pure and never sees them in clear); `encodingAesKeyGiven`
 * says whether a key was given at all, which SAFE and COMPATIBLE modes need.
 */
export type WechatAccountCommand =
  | {
      type: 'CreateWechatAccount';
      data: Omit<WechatAccountSettings, 'welcomeText' | 'receptionPrompts' | 'workHours'> &
        WechatAccountSecrets & { wechatAccountId: string; skillGroup: NamedSkillGroup; flow?: NamedFlow } & ReceptionChange;
      metadata: CommandMetadata;
    }
  | {
      type: 'UpdateWechatAccount';
      data: Partial<Omit<WechatAccountSettings, 'welcomeText' | 'receptionPrompts' | 'workHours'>> &
        Partial<WechatAccountSecrets> & { wechatAccountId: string; skillGroup?: NamedSkillGroup; flow?: NamedFlow; enabled?: boolean } & ReceptionChange;
      metadata: CommandMetadata;
    }
  | { type: 'DeleteWechatAccount'; data: { wechatAccountId: string }; metadata: CommandMetadata };

/** Issue 13: the reception prompts (a change, as web channels take it) and work hours (null: always open). */
interface ReceptionChange {
  receptionPrompts?: ReceptionPromptsChange | null;
  workHours?: WorkHours | null;
}

function active(state: WechatAccountState, id: string): ActiveWechatAccount {
  if (state.status !== 'active') throw new NotFoundError('WeChat account', id);
  return state;
}

function checkName(name: string): string {
  const n = name.trim();
  if (n === '') throw new ValidationError('name', 'must not be empty');
  if (n.length > 200) throw new ValidationError('name', 'at most 200 characters');
  return n;
}

/** AppIDs are `wx` and 16 hexadecimal digits. */
export function checkAppId(appId: string): string {
  if (!/^wx[0-9a-f]{16}$/.test(appId)) throw new ValidationError('appId', 'must be wx followed by 16 lower-case hexadecimal digits, as the WeChat console shows it');
  return appId;
}

function checkOriginalId(id: string | null): string | null {
  if (id === null) return null;
  if (!/^gh_[0-9a-f]{12}$/.test(id)) throw new ValidationError('originalId', 'must be gh_ followed by 12 lower-case hexadecimal digits');
  return id;
}

function checkSkillGroup(id: string, group: NamedSkillGroup | undefined): void {
  if (!group || group.id !== id) throw new ValidationError('skillGroupId', 'no such skill group');
  if (group.channel !== 'ONLINE') throw new ValidationError('skillGroupId', `WeChat chats need an ONLINE skill group; this one is ${group.channel}`);
}

function checkFlow(id: string, flow: NamedFlow | undefined): void {
  if (!flow || flow.id !== id) throw new ValidationError('flowId', 'no such flow');
  if (flow.kind !== 'CHAT') throw new ValidationError('flowId', `a WeChat account runs a CHAT flow; this one is ${flow.kind}`);
}

function checkQuota(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new ValidationError('sendQuota', 'must be a whole number from 1 to 1000');
  return n;
}

/**
 * Mini program cards: the link rules (chat-link.ts). A mini program's cards open its own pages (no appId); an
 * official account's open a mini program linked to it, so each names that mini program's AppID.
 */
function checkCards(cards: MiniProgramCard[], kind: WechatAccountSettings['kind']): MiniProgramCard[] {
  const problem = miniProgramCardsProblem(cards);
  if (problem) throw new ValidationError(problem.field, problem.message);
  cards.forEach((c, i) => {
    if (kind === 'OFFICIAL_ACCOUNT' && c.appId == null) throw new ValidationError(`miniProgramCards.${i}.appId`, "an official account's card opens a linked mini program: give its AppID");
    if (kind === 'MINI_PROGRAM' && c.appId != null) throw new ValidationError(`miniProgramCards.${i}.appId`, "a mini program's cards open its own pages: leave appId out");
  });
  return cards.map((c) => ({ key: c.key, ...(c.appId != null ? { appId: c.appId } : {}), title: c.title.trim(), pagePath: c.pagePath.trim(), thumbMediaId: c.thumbMediaId }));
}

function checkShape(s: Pick<WechatAccountSettings, 'kind' | 'messageMode' | 'dataFormat'> & { encodingAesKey: string | null }): void {
  if (s.kind === 'OFFICIAL_ACCOUNT' && s.dataFormat !== 'XML') throw new ValidationError('dataFormat', 'official accounts push XML');
  if (s.messageMode !== 'PLAIN' && s.encodingAesKey === null) throw new ValidationError('encodingAesKey', `${s.messageMode} mode needs the EncodingAESKey`);
}

export function decideWechatAccount(command: WechatAccountCommand, state: WechatAccountState): WechatAccountEvent[] {
  switch (command.type) {
    case 'CreateWechatAccount': {
      const d = command.data;
      if (state.status !== 'none') throw new ConflictError(`WeChat account ${d.wechatAccountId} already exists`);
      const name = checkName(d.name);
      checkAppId(d.appId);
      const originalId = checkOriginalId(d.originalId);
      checkSkillGroup(d.skillGroupId, d.skillGroup);
      if (d.flowId !== null) checkFlow(d.flowId, d.flow);
      checkShape(d);
      const cards = d.miniProgramCards ? checkCards(d.miniProgramCards, d.kind) : [];
      const reception = receptionSettingsChange(null, { receptionPrompts: d.receptionPrompts ?? null, ...(d.workHours ? { workHours: d.workHours } : {}) }, wechatPromptsDefaultEnabled);
      return [
        {
          type: 'WechatAccountCreated',
          data: {
            wechatAccountId: d.wechatAccountId,
            name,
            kind: d.kind,
            appId: d.appId,
            originalId,
            messageMode: d.messageMode,
            dataFormat: d.dataFormat,
            skillGroupId: d.skillGroupId,
            flowId: d.flowId,
            sendQuota: checkQuota(d.sendQuota),
            appSecret: d.appSecret,
            token: d.token,
            encodingAesKey: d.encodingAesKey,
            ...reception,
            ...(cards.length > 0 ? { miniProgramCards: cards } : {}),
          },
        },
      ];
    }
    case 'UpdateWechatAccount': {
      const account = active(state, command.data.wechatAccountId);
      const d = command.data;
      const changes: Partial<WechatAccountSettings> & { enabled?: boolean } = {};
      if (d.name !== undefined) {
        const name = checkName(d.name);
        if (name !== account.name) changes.name = name;
      }
      if (d.appId !== undefined && d.appId !== account.appId) changes.appId = checkAppId(d.appId);
      if (d.originalId !== undefined && d.originalId !== account.originalId) changes.originalId = checkOriginalId(d.originalId);
      if (d.messageMode !== undefined && d.messageMode !== account.messageMode) changes.messageMode = d.messageMode;
      if (d.dataFormat !== undefined && d.dataFormat !== account.dataFormat) changes.dataFormat = d.dataFormat;
      if (d.kind !== undefined && d.kind !== account.kind) changes.kind = d.kind;
      if (d.skillGroupId !== undefined && d.skillGroupId !== account.skillGroupId) {
        checkSkillGroup(d.skillGroupId, d.skillGroup);
        changes.skillGroupId = d.skillGroupId;
      }
      if (d.flowId !== undefined && d.flowId !== account.flowId) {
        if (d.flowId !== null) checkFlow(d.flowId, d.flow);
        changes.flowId = d.flowId;
      }
      if (d.sendQuota !== undefined && d.sendQuota !== account.sendQuota) changes.sendQuota = checkQuota(d.sendQuota);
      if (d.enabled !== undefined && d.enabled !== account.enabled) changes.enabled = d.enabled;
      if (d.miniProgramCards !== undefined) {
        const cards = checkCards(d.miniProgramCards ?? [], changes.kind ?? account.kind);
        if (JSON.stringify(cards) !== JSON.stringify(account.miniProgramCards ?? [])) changes.miniProgramCards = cards;
      } else if (changes.kind !== undefined && (account.miniProgramCards ?? []).length > 0) {
        // Cards of one kind do not fit the other (an official account's name their mini program's AppID).
        throw new ValidationError('miniProgramCards', `the account's mini program cards are a ${account.kind === 'MINI_PROGRAM' ? "mini program's" : "official account's"}: give the cards anew (or none) with the new kind`);
      }
      Object.assign(changes, receptionSettingsChange({ welcomeText: account.welcomeText ?? null, receptionPrompts: account.receptionPrompts ?? null, workHours: account.workHours ?? null }, { receptionPrompts: d.receptionPrompts ?? null, ...(d.workHours !== undefined ? { workHours: d.workHours } : {}) }, wechatPromptsDefaultEnabled));
      const secrets: Partial<WechatAccountSecrets> = {};
      if (d.appSecret !== undefined) secrets.appSecret = d.appSecret;
      if (d.token !== undefined) secrets.token = d.token;
      if (d.encodingAesKey !== undefined) secrets.encodingAesKey = d.encodingAesKey;
      checkShape({
        kind: changes.kind ?? account.kind,
        messageMode: changes.messageMode ?? account.messageMode,
        dataFormat: changes.dataFormat ?? account.dataFormat,
        encodingAesKey: secrets.encodingAesKey !== undefined ? secrets.encodingAesKey : account.encodingAesKey,
      });
      const events: WechatAccountEvent[] = [];
      if (Object.keys(changes).length > 0) events.push({ type: 'WechatAccountUpdated', data: changes });
      if (Object.keys(secrets).length > 0) events.push({ type: 'WechatAccountSecretsChanged', data: secrets });
      return events;
    }
    case 'DeleteWechatAccount': {
      if (state.status === 'deleted') return [];
      active(state, command.data.wechatAccountId);
      return [{ type: 'WechatAccountDeleted', data: {} }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const wechatAccountDecider = { initialState: initialWechatAccountState, evolve: evolveWechatAccount, decide: decideWechatAccount };

// A WeChat official account (公众号) or mini program as a chat channel (OL-1): WeChat calls its callback URL with
// the customers' messages, Kefu answers through the customer-service API with its AppID and AppSecret.
// Secrets travel in events only encrypted (SealedSecret, see src/adapters/wechat/wechat-secrets.ts): the
// AppSecret, the token (signatures) and the EncodingAESKey (safe mode) must be readable by Kefu, so they are
// encrypted, not hashed, and never returned by the API.
import type { DomainEvent } from '../decider.ts';
import type { ReceptionPromptSettings, WorkHours } from '../web-channel/reception-prompts.ts';
import type { MiniProgramCard } from '../contact/chat-link.ts';

export type WechatAccountKind = 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM';
/** PLAIN: clear XML; COMPATIBLE: clear and encrypted side by side (Kefu reads the encrypted part); SAFE: encrypted only. */
export type WechatMessageMode = 'PLAIN' | 'COMPATIBLE' | 'SAFE';
/** How WeChat pushes messages: XML (official accounts always), or JSON (mini programs, as configured in their console). */
export type WechatDataFormat = 'XML' | 'JSON';

/** `v1.<iv>.<ciphertext+tag>`, base64url: AES-256-GCM under Kefu's secrets key. */
export type SealedSecret = string;

export interface WechatAccountSettings {
  name: string;
  kind: WechatAccountKind;
  appId: string;
  /** The account's original id (gh_…), the ToUserName of its messages; null: not checked. */
  originalId: string | null;
  messageMode: WechatMessageMode;
  dataFormat: WechatDataFormat;
  skillGroupId: string;
  flowId: string | null;
  /** Messages Kefu may send a customer within the 48-hour window after their last message (current docs: 5). */
  sendQuota: number;
  /** Issue 13: reception prompts as web channels have them (reception-prompts.ts; absent or null: defaults). */
  welcomeText?: string | null;
  receptionPrompts?: ReceptionPromptSettings | null;
  /** When the account takes chats (absent or null: always); off hours a chat gets the off-hours prompt and ends. */
  workHours?: WorkHours | null;
  /** Mini programs: the cards agents pick from (chat-link.ts; absent: none). */
  miniProgramCards?: MiniProgramCard[] | null;
}

export interface WechatAccountSecrets {
  appSecret: SealedSecret;
  token: SealedSecret;
  /** Null in PLAIN mode when none was given. */
  encodingAesKey: SealedSecret | null;
}

export type WechatAccountEvent =
  | DomainEvent<'WechatAccountCreated', WechatAccountSettings & WechatAccountSecrets & { wechatAccountId: string }>
  | DomainEvent<'WechatAccountUpdated', Partial<WechatAccountSettings> & { enabled?: boolean }>
  | DomainEvent<'WechatAccountSecretsChanged', Partial<WechatAccountSecrets>>
  | DomainEvent<'WechatAccountDeleted', Record<string, never>>;

export interface ActiveWechatAccount extends WechatAccountSettings, WechatAccountSecrets {
  status: 'active';
  id: string;
  enabled: boolean;
}

export type WechatAccountState = { status: 'none' } | ActiveWechatAccount | { status: 'deleted'; id: string };

export const initialWechatAccountState = (): WechatAccountState => ({ status: 'none' });

export function evolveWechatAccount(state: WechatAccountState, event: WechatAccountEvent): WechatAccountState {
  if (event.type === 'WechatAccountCreated') {
    const { wechatAccountId, ...rest } = event.data;
    return { status: 'active', id: wechatAccountId, enabled: true, ...rest };
  }
  if (state.status !== 'active') return state;
  switch (event.type) {
    case 'WechatAccountUpdated':
    case 'WechatAccountSecretsChanged':
      return { ...state, ...event.data };
    case 'WechatAccountDeleted':
      return { status: 'deleted', id: state.id };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/**
 * Reception prompts a WeChat account's admin never switched are off (web channels': on): each prompt is a
 * message of WeChat's few per customer (sendQuota), so an account sends only the prompts it chose.
 */
export const wechatPromptsDefaultEnabled = false;

/** The default of sendQuota: the customer-service API's current limit per customer in the 48-hour window. */
export const defaultWechatSendQuota = 5;

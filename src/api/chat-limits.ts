// Rate limits of the chat's customer side (issue 11): new customer sessions, new chats, messages and uploads,
// each counted per key (a visitor, a client address) in a sliding window. Over the limit: RATE_LIMITED with
// the seconds until one more is allowed. Kept in memory: one process's view, like the login throttle.
// Keys starting with `ip:` are client addresses and have limits of their own: many visitors share one
// address behind an office's or a carrier's NAT.
import { RateLimitedError } from '../domain/errors.ts';

export type ChatLimitKind = 'session' | 'chat' | 'message' | 'upload';

/** At most `count` per key in `windowSeconds`; count 0 turns the limit off. */
export interface ChatLimit {
  count: number;
  windowSeconds: number;
}

export type ChatLimitSettings = Record<ChatLimitKind, ChatLimit>;

/** Per visitor (any key but an address): one visitor types fast, but not 3 messages a second for long. */
export const defaultChatLimits: ChatLimitSettings = {
  session: { count: 60, windowSeconds: 600 },
  chat: { count: 20, windowSeconds: 3600 },
  message: { count: 30, windowSeconds: 10 },
  upload: { count: 20, windowSeconds: 60 },
};

/** Per client address (`ip:` keys): an office behind one address holds many visitors. */
export const defaultAddressChatLimits: ChatLimitSettings = {
  session: { count: 60, windowSeconds: 600 },
  chat: { count: 60, windowSeconds: 3600 },
  message: { count: 300, windowSeconds: 10 },
  upload: { count: 100, windowSeconds: 60 },
};

const what: Record<ChatLimitKind, string> = {
  session: 'new chat sessions',
  chat: 'new chats',
  message: 'messages',
  upload: 'uploads',
};

/** Sweep keys idle for a whole window once the map holds this many (bounds memory under many visitors). */
const sweepAbove = 50_000;

export class ChatLimits {
  readonly settings: ChatLimitSettings;
  readonly addressSettings: ChatLimitSettings;
  private readonly now: () => number;
  /** `<kind>|<key>` → the times (ms) of the hits still inside the window, oldest first. */
  private readonly hits = new Map<string, number[]>();

  constructor(settings: Partial<ChatLimitSettings> = {}, now: () => number = Date.now, addressSettings: Partial<ChatLimitSettings> = {}) {
    this.settings = { ...defaultChatLimits, ...settings };
    this.addressSettings = { ...defaultAddressChatLimits, ...addressSettings };
    this.now = now;
  }

  private limitOf(kind: ChatLimitKind, key: string): ChatLimit {
    return key.startsWith('ip:') ? this.addressSettings[kind] : this.settings[kind];
  }

  /**
   * Counts one `kind` for every key, or throws RateLimitedError (counting none) if any key is at its limit.
   * Empty keys are ignored.
   */
  take(kind: ChatLimitKind, keys: string[]): void {
    const now = this.now();
    const lists: number[][] = [];
    let retryAfterMs = 0;
    for (const key of new Set(keys.filter((k) => k !== ''))) {
      const { count, windowSeconds } = this.limitOf(kind, key);
      if (count <= 0) continue;
      const windowMs = windowSeconds * 1000;
      const id = `${kind}|${key}`;
      let list = this.hits.get(id);
      if (!list) {
        list = [];
        this.hits.set(id, list);
      }
      while (list.length > 0 && list[0]! <= now - windowMs) list.shift();
      if (list.length >= count) retryAfterMs = Math.max(retryAfterMs, list[list.length - count]! + windowMs - now);
      lists.push(list);
    }
    if (retryAfterMs > 0) {
      const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
      throw new RateLimitedError(`Too many ${what[kind]}; try again in ${retryAfter} s`, retryAfter);
    }
    for (const list of lists) list.push(now);
    if (this.hits.size > sweepAbove) this.sweep(now);
  }

  private sweep(now: number): void {
    for (const [id, list] of this.hits) {
      const bar = id.indexOf('|');
      const { windowSeconds } = this.limitOf(id.slice(0, bar) as ChatLimitKind, id.slice(bar + 1));
      const last = list[list.length - 1];
      if (last === undefined || last <= now - windowSeconds * 1000) this.hits.delete(id);
    }
  }
}

/** Limiters for deps that were built without one (tests that assemble ApiDeps by hand): defaults. */
const fallback = new WeakMap<object, ChatLimits>();

/**
 * Counts one `kind` against every key (e.g. [`visitor:${customerId}`, `ip:${ctx.clientIp}`]), or throws
 * RateLimitedError (extensions.code RATE_LIMITED, extensions.retryAfterSeconds) without counting.
 */
export function chatLimit(deps: { chatLimits?: ChatLimits | undefined }, kind: ChatLimitKind, keys: string[]): void {
  let limits = deps.chatLimits;
  if (!limits) {
    limits = fallback.get(deps) ?? new ChatLimits();
    fallback.set(deps, limits);
  }
  limits.take(kind, keys);
}

/** The settings as written in KEFU_CHAT_LIMIT_* ("count/seconds", "0" = off). */
export function parseChatLimit(value: string): ChatLimit | null {
  const v = value.trim();
  if (v === '0' || v === 'off') return { count: 0, windowSeconds: 1 };
  const m = /^(\d{1,6})\s*\/\s*(\d{1,6})$/.exec(v);
  if (!m) return null;
  const count = Number(m[1]);
  const windowSeconds = Number(m[2]);
  if (windowSeconds < 1 || windowSeconds > 86_400) return null;
  return { count, windowSeconds };
}

// The replies of one shared category (`quickreplycategory-<instanceId>.<categoryId>`) or one agent's
// personal replies (`quickreplypersonal-<instanceId>.<agentId>`): one decider for both. Shortcuts are
// unique within a list; the list keeps its order. A CSV import is one event, so it is all or nothing.
import type { DomainEvent } from '../decider.ts';
import type { QuickReplyFields } from './quick-reply-values.ts';
import { shortcutKey } from './quick-reply-values.ts';

/** Whose list: a shared category's (agentId null) or an agent's personal one (categoryId null). */
export interface ReplyListOwner {
  categoryId: string | null;
  agentId: string | null;
}

export interface QuickReply extends QuickReplyFields {
  replyId: string;
}

export type QuickReplyListEvent =
  | DomainEvent<'QuickReplyAdded', ReplyListOwner & QuickReply>
  | DomainEvent<'QuickReplyChanged', ReplyListOwner & QuickReply>
  | DomainEvent<'QuickReplyDeleted', ReplyListOwner & { replyId: string }>
  | DomainEvent<'QuickRepliesReordered', ReplyListOwner & { replyIds: string[] }>
  | DomainEvent<'QuickRepliesImported', ReplyListOwner & { replies: QuickReply[] }>;

export interface QuickReplyListState {
  replies: ReadonlyMap<string, QuickReply>;
  deleted: ReadonlySet<string>;
  /** shortcutKey → replyId, for live replies. */
  shortcuts: ReadonlyMap<string, string>;
  order: readonly string[];
}

export const initialQuickReplyListState = (): QuickReplyListState => ({ replies: new Map(), deleted: new Set(), shortcuts: new Map(), order: [] });

function withReplies(state: QuickReplyListState, added: QuickReply[]): QuickReplyListState {
  const replies = new Map(state.replies);
  const shortcuts = new Map(state.shortcuts);
  const order = [...state.order];
  for (const r of added) {
    replies.set(r.replyId, r);
    shortcuts.set(shortcutKey(r.shortcut), r.replyId);
    order.push(r.replyId);
  }
  return { ...state, replies, shortcuts, order };
}

const replyOf = (d: QuickReply): QuickReply => ({ replyId: d.replyId, title: d.title, shortcut: d.shortcut, content: d.content, imageUrl: d.imageUrl });

export function evolveQuickReplyList(state: QuickReplyListState, event: QuickReplyListEvent): QuickReplyListState {
  switch (event.type) {
    case 'QuickReplyAdded':
      return withReplies(state, [replyOf(event.data)]);
    case 'QuickRepliesImported':
      return withReplies(state, event.data.replies.map(replyOf));
    case 'QuickReplyChanged': {
      const before = state.replies.get(event.data.replyId);
      if (!before) return state;
      const shortcuts = new Map(state.shortcuts);
      shortcuts.delete(shortcutKey(before.shortcut));
      shortcuts.set(shortcutKey(event.data.shortcut), event.data.replyId);
      return { ...state, replies: new Map(state.replies).set(event.data.replyId, replyOf(event.data)), shortcuts };
    }
    case 'QuickReplyDeleted': {
      const before = state.replies.get(event.data.replyId);
      if (!before) return state;
      const replies = new Map(state.replies);
      replies.delete(event.data.replyId);
      const shortcuts = new Map(state.shortcuts);
      shortcuts.delete(shortcutKey(before.shortcut));
      return { replies, shortcuts, deleted: new Set(state.deleted).add(event.data.replyId), order: state.order.filter((id) => id !== event.data.replyId) };
    }
    case 'QuickRepliesReordered':
      return { ...state, order: [...event.data.replyIds] };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

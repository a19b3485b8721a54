import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { QuickReply, QuickReplyListEvent, QuickReplyListState, ReplyListOwner } from './quick-reply-list.ts';
import { evolveQuickReplyList, initialQuickReplyListState } from './quick-reply-list.ts';
import { maxPersonalReplies, maxRepliesPerCategory, shortcutKey } from './quick-reply-values.ts';

export type QuickReplyListCommand =
  | { type: 'AddQuickReply'; data: ReplyListOwner & QuickReply; metadata: CommandMetadata }
  | { type: 'ChangeQuickReply'; data: ReplyListOwner & QuickReply; metadata: CommandMetadata }
  | { type: 'DeleteQuickReply'; data: ReplyListOwner & { replyId: string }; metadata: CommandMetadata }
  | { type: 'ReorderQuickReplies'; data: ReplyListOwner & { replyIds: string[] }; metadata: CommandMetadata }
  | { type: 'ImportQuickReplies'; data: ReplyListOwner & { replies: QuickReply[] }; metadata: CommandMetadata };

type Of<T extends QuickReplyListCommand['type']> = Extract<QuickReplyListCommand, { type: T }>;

/** One problem of one imported row (1-based, as in the CSV without its header row). */
export interface ImportRowProblem {
  row: number;
  field: string;
  problem: string;
}

/** A CSV import refused: every bad row and field, nothing imported. */
export class QuickReplyImportError extends ValidationError {
  readonly rows: ImportRowProblem[];
  constructor(rows: ImportRowProblem[]) {
    const first = rows[0]!;
    super('input.csv', `${rows.length} problem${rows.length === 1 ? '' : 's'} in the CSV, nothing imported; row ${first.row}, ${first.field}: ${first.problem}`);
    this.rows = rows;
  }
}

const owner = (d: ReplyListOwner): ReplyListOwner => ({ categoryId: d.categoryId, agentId: d.agentId });
const limitOf = (d: ReplyListOwner) => (d.agentId !== null ? maxPersonalReplies : maxRepliesPerCategory);
const fields = (d: QuickReply): QuickReply => ({ replyId: d.replyId, title: d.title, shortcut: d.shortcut, content: d.content, imageUrl: d.imageUrl });

function add(command: Of<'AddQuickReply'>, state: QuickReplyListState): QuickReplyListEvent[] {
  const d = command.data;
  if (state.replies.has(d.replyId) || state.deleted.has(d.replyId)) return [];
  if (state.replies.size >= limitOf(d)) throw new ConflictError(`A list holds at most ${limitOf(d)} quick replies`);
  if (state.shortcuts.has(shortcutKey(d.shortcut))) throw new ValidationError('shortcut', `"${d.shortcut}" is already used in this list`);
  return [{ type: 'QuickReplyAdded', data: { ...owner(d), ...fields(d) } }];
}

function change(command: Of<'ChangeQuickReply'>, state: QuickReplyListState): QuickReplyListEvent[] {
  const d = command.data;
  const current = state.replies.get(d.replyId);
  if (!current) throw new NotFoundError('Quick reply', d.replyId);
  const holder = state.shortcuts.get(shortcutKey(d.shortcut));
  if (holder !== undefined && holder !== d.replyId) throw new ValidationError('shortcut', `"${d.shortcut}" is already used in this list`);
  if (JSON.stringify(fields(d)) === JSON.stringify(fields(current))) return [];
  return [{ type: 'QuickReplyChanged', data: { ...owner(d), ...fields(d) } }];
}

function remove(command: Of<'DeleteQuickReply'>, state: QuickReplyListState): QuickReplyListEvent[] {
  const d = command.data;
  if (state.deleted.has(d.replyId)) return [];
  if (!state.replies.has(d.replyId)) throw new NotFoundError('Quick reply', d.replyId);
  return [{ type: 'QuickReplyDeleted', data: { ...owner(d), replyId: d.replyId } }];
}

function reorder(command: Of<'ReorderQuickReplies'>, state: QuickReplyListState): QuickReplyListEvent[] {
  const ids = command.data.replyIds;
  if (new Set(ids).size !== ids.length) throw new ValidationError('replyIds', 'names a reply twice');
  for (const id of ids) if (!state.replies.has(id)) throw new ValidationError('replyIds', `no reply ${id} in this list`);
  if (ids.length !== state.order.length) throw new ValidationError('replyIds', `must name all ${state.order.length} replies of the list`);
  if (ids.every((id, i) => state.order[i] === id)) return [];
  return [{ type: 'QuickRepliesReordered', data: { ...owner(command.data), replyIds: [...ids] } }];
}

/**
 * Shortcuts of rows to import that the list already uses, or that an earlier row uses: one problem per row.
 * `row` is whatever numbering the caller gives (the API gives the file's row numbers).
 */
export function shortcutProblems(state: QuickReplyListState, rows: { row: number; shortcut: string }[]): ImportRowProblem[] {
  const problems: ImportRowProblem[] = [];
  const seen = new Map<string, number>();
  for (const r of rows) {
    const key = shortcutKey(r.shortcut);
    const earlier = seen.get(key);
    if (state.shortcuts.has(key)) problems.push({ row: r.row, field: 'shortcut', problem: `"${r.shortcut}" is already used in this list` });
    else if (earlier !== undefined) problems.push({ row: r.row, field: 'shortcut', problem: `"${r.shortcut}" is also on row ${earlier}` });
    else seen.set(key, r.row);
  }
  return problems;
}

/**
 * All rows or none. Rows are checked against the list and against each other (a shortcut used twice);
 * every problem is reported with its row, not just the first. A row's field problems found at the edge
 * (zod) come in the same error type from the API. An import whose reply ids are all known is a retry.
 */
function importReplies(command: Of<'ImportQuickReplies'>, state: QuickReplyListState): QuickReplyListEvent[] {
  const d = command.data;
  if (d.replies.length === 0) throw new ValidationError('csv', 'has no rows');
  if (d.replies.every((r) => state.replies.has(r.replyId) || state.deleted.has(r.replyId))) return [];
  const problems = shortcutProblems(state, d.replies.map((r, i) => ({ row: i + 1, shortcut: r.shortcut })));
  if (problems.length > 0) throw new QuickReplyImportError(problems);
  if (state.replies.size + d.replies.length > limitOf(d)) {
    throw new ValidationError('csv', `the list would hold ${state.replies.size + d.replies.length} replies; at most ${limitOf(d)}`);
  }
  return [{ type: 'QuickRepliesImported', data: { ...owner(d), replies: d.replies.map(fields) } }];
}

export function decideQuickReplyList(command: QuickReplyListCommand, state: QuickReplyListState): QuickReplyListEvent[] {
  switch (command.type) {
    case 'AddQuickReply':
      return add(command, state);
    case 'ChangeQuickReply':
      return change(command, state);
    case 'DeleteQuickReply':
      return remove(command, state);
    case 'ReorderQuickReplies':
      return reorder(command, state);
    case 'ImportQuickReplies':
      return importReplies(command, state);
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const quickReplyListDecider = { initialState: initialQuickReplyListState, evolve: evolveQuickReplyList, decide: decideQuickReplyList };

import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { maxCategories } from './quick-reply-values.ts';
import type { CategoryScope, QuickReplyCatalogEvent, QuickReplyCatalogState, QuickReplyCategory } from './quick-reply-catalog.ts';
import { evolveQuickReplyCatalog, initialQuickReplyCatalogState } from './quick-reply-catalog.ts';

export type QuickReplyCatalogCommand =
  | { type: 'CreateQuickReplyCategory'; data: QuickReplyCategory; metadata: CommandMetadata }
  | { type: 'ChangeQuickReplyCategory'; data: QuickReplyCategory; metadata: CommandMetadata }
  | { type: 'DeleteQuickReplyCategory'; data: { categoryId: string }; metadata: CommandMetadata }
  | { type: 'ReorderQuickReplyCategories'; data: { categoryIds: string[] }; metadata: CommandMetadata };

type Of<T extends QuickReplyCatalogCommand['type']> = Extract<QuickReplyCatalogCommand, { type: T }>;

const sameName = (a: string, b: string) => a.toLocaleLowerCase() === b.toLocaleLowerCase();

function checkScope(scope: CategoryScope): CategoryScope {
  if (scope.kind === 'INSTANCE') return { kind: 'INSTANCE' };
  const ids = scope.kind === 'SKILL_GROUPS' ? scope.skillGroupIds : scope.agentIds;
  const field = scope.kind === 'SKILL_GROUPS' ? 'scope.skillGroupIds' : 'scope.agentIds';
  if (ids.length === 0) throw new ValidationError(field, 'name at least one');
  const unique = [...new Set(ids)];
  return scope.kind === 'SKILL_GROUPS' ? { kind: 'SKILL_GROUPS', skillGroupIds: unique } : { kind: 'AGENTS', agentIds: unique };
}

function nameTaken(state: QuickReplyCatalogState, name: string, except: string | null): boolean {
  for (const c of state.categories.values()) if (c.categoryId !== except && sameName(c.name, name)) return true;
  return false;
}

function create(command: Of<'CreateQuickReplyCategory'>, state: QuickReplyCatalogState): QuickReplyCatalogEvent[] {
  const d = command.data;
  if (state.categories.has(d.categoryId) || state.deleted.has(d.categoryId)) return [];
  if (state.categories.size >= maxCategories) throw new ConflictError(`An instance has at most ${maxCategories} quick-reply categories`);
  if (nameTaken(state, d.name, null)) throw new ConflictError(`A quick-reply category is already named "${d.name}"`);
  return [{ type: 'QuickReplyCategoryCreated', data: { categoryId: d.categoryId, name: d.name, scope: checkScope(d.scope) } }];
}

function change(command: Of<'ChangeQuickReplyCategory'>, state: QuickReplyCatalogState): QuickReplyCatalogEvent[] {
  const d = command.data;
  const current = state.categories.get(d.categoryId);
  if (!current) throw new NotFoundError('Quick-reply category', d.categoryId);
  if (nameTaken(state, d.name, d.categoryId)) throw new ConflictError(`A quick-reply category is already named "${d.name}"`);
  const next = { categoryId: d.categoryId, name: d.name, scope: checkScope(d.scope) };
  if (JSON.stringify(next) === JSON.stringify(current)) return [];
  return [{ type: 'QuickReplyCategoryChanged', data: next }];
}

function remove(command: Of<'DeleteQuickReplyCategory'>, state: QuickReplyCatalogState): QuickReplyCatalogEvent[] {
  const { categoryId } = command.data;
  if (state.deleted.has(categoryId)) return [];
  if (!state.categories.has(categoryId)) throw new NotFoundError('Quick-reply category', categoryId);
  return [{ type: 'QuickReplyCategoryDeleted', data: { categoryId } }];
}

/** The new order names every live category exactly once. */
function reorder(command: Of<'ReorderQuickReplyCategories'>, state: QuickReplyCatalogState): QuickReplyCatalogEvent[] {
  const ids = command.data.categoryIds;
  if (new Set(ids).size !== ids.length) throw new ValidationError('categoryIds', 'names a category twice');
  for (const id of ids) if (!state.categories.has(id)) throw new ValidationError('categoryIds', `no category ${id}`);
  if (ids.length !== state.order.length) throw new ValidationError('categoryIds', `must name all ${state.order.length} categories`);
  if (ids.every((id, i) => state.order[i] === id)) return [];
  return [{ type: 'QuickReplyCategoriesReordered', data: { categoryIds: [...ids] } }];
}

export function decideQuickReplyCatalog(command: QuickReplyCatalogCommand, state: QuickReplyCatalogState): QuickReplyCatalogEvent[] {
  switch (command.type) {
    case 'CreateQuickReplyCategory':
      return create(command, state);
    case 'ChangeQuickReplyCategory':
      return change(command, state);
    case 'DeleteQuickReplyCategory':
      return remove(command, state);
    case 'ReorderQuickReplyCategories':
      return reorder(command, state);
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const quickReplyCatalogDecider = { initialState: initialQuickReplyCatalogState, evolve: evolveQuickReplyCatalog, decide: decideQuickReplyCatalog };

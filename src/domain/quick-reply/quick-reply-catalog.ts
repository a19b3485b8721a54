// An instance's shared quick-reply categories (OL-5, AV-7, AD-4): their names, who sees them (scope) and
// their order. One stream per instance, `quickreplies-<instanceId>`, so the limit of 100 categories,
// unique names and the order are decided in one place. The replies of a category live in their own
// stream (quick-reply-list.ts).
import type { DomainEvent } from '../decider.ts';

/** Who sees a category: everyone in the instance, members of chosen skill groups, or chosen agents. */
export type CategoryScope =
  | { kind: 'INSTANCE' }
  | { kind: 'SKILL_GROUPS'; skillGroupIds: string[] }
  | { kind: 'AGENTS'; agentIds: string[] };

export interface QuickReplyCategory {
  categoryId: string;
  name: string;
  scope: CategoryScope;
}

export type QuickReplyCatalogEvent =
  | DomainEvent<'QuickReplyCategoryCreated', QuickReplyCategory>
  | DomainEvent<'QuickReplyCategoryChanged', QuickReplyCategory>
  | DomainEvent<'QuickReplyCategoryDeleted', { categoryId: string }>
  | DomainEvent<'QuickReplyCategoriesReordered', { categoryIds: string[] }>;

export interface QuickReplyCatalogState {
  /** Live categories by id. */
  categories: ReadonlyMap<string, QuickReplyCategory>;
  /** Ids of deleted categories (a delete repeated is a no-op, a change to one is NOT_FOUND). */
  deleted: ReadonlySet<string>;
  /** Live category ids in display order. */
  order: readonly string[];
}

export const initialQuickReplyCatalogState = (): QuickReplyCatalogState => ({ categories: new Map(), deleted: new Set(), order: [] });

export function evolveQuickReplyCatalog(state: QuickReplyCatalogState, event: QuickReplyCatalogEvent): QuickReplyCatalogState {
  switch (event.type) {
    case 'QuickReplyCategoryCreated': {
      const categories = new Map(state.categories).set(event.data.categoryId, event.data);
      return { ...state, categories, order: [...state.order, event.data.categoryId] };
    }
    case 'QuickReplyCategoryChanged': {
      if (!state.categories.has(event.data.categoryId)) return state;
      return { ...state, categories: new Map(state.categories).set(event.data.categoryId, event.data) };
    }
    case 'QuickReplyCategoryDeleted': {
      const categories = new Map(state.categories);
      categories.delete(event.data.categoryId);
      return { categories, deleted: new Set(state.deleted).add(event.data.categoryId), order: state.order.filter((id) => id !== event.data.categoryId) };
    }
    case 'QuickReplyCategoriesReordered':
      return { ...state, order: [...event.data.categoryIds] };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** Whether an agent (with their skill groups) sees a category. */
export function categoryVisibleTo(scope: CategoryScope, agentId: string, skillGroupIds: ReadonlySet<string>): boolean {
  switch (scope.kind) {
    case 'INSTANCE':
      return true;
    case 'SKILL_GROUPS':
      return scope.skillGroupIds.some((g) => skillGroupIds.has(g));
    case 'AGENTS':
      return scope.agentIds.includes(agentId);
  }
}

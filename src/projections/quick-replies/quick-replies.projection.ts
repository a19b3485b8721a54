// Quick replies (OL-5, AV-7, AD-4) as agents search them: shared categories with their scope and order, and
// every reply (shared or personal) with its search tokens and its place in the agent's panel (sort_key).
import { sql, type Selectable, type Transaction } from 'kysely';
import type { QuickReplyCatalogEvent } from '../../domain/quick-reply/quick-reply-catalog.ts';
import type { QuickReply, QuickReplyListEvent, ReplyListOwner } from '../../domain/quick-reply/quick-reply-list.ts';
import { searchTokens, shortcutKey } from '../../domain/quick-reply/quick-reply-values.ts';
import type { EventMetadata } from '../../domain/ports/event-store.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type QuickReplyRow = Selectable<ReadModelDb['quick_replies']>;
export type QuickReplyCategoryRow = Selectable<ReadModelDb['quick_reply_categories']>;

type Trx = Transaction<ReadModelDb>;
type Event = QuickReplyCatalogEvent | QuickReplyListEvent;
type Of<T extends Event['type']> = Extract<Event, { type: T }>['data'];

/** Positions within a list stay below this; a reply's sort_key is (category position + 1) × this + position. */
const listSpan = 1_000_000;

const handled: Event['type'][] = [
  'QuickReplyCategoryCreated',
  'QuickReplyCategoryChanged',
  'QuickReplyCategoryDeleted',
  'QuickReplyCategoriesReordered',
  'QuickReplyAdded',
  'QuickReplyChanged',
  'QuickReplyDeleted',
  'QuickRepliesReordered',
  'QuickRepliesImported',
];

export const quickRepliesProjection: Projection = {
  name: 'quick-replies',
  tables: ['quick_reply_categories', 'quick_replies'],
  eventTypes: new Set(handled),
  async apply(trx, e) {
    const event = { type: e.type, data: e.data } as Event;
    switch (event.type) {
      case 'QuickReplyCategoryCreated':
        return projectCategoryCreated(trx, event.data, e.metadata);
      case 'QuickReplyCategoryChanged':
        return projectCategoryChanged(trx, event.data, e.metadata);
      case 'QuickReplyCategoryDeleted':
        return projectCategoryDeleted(trx, event.data, e.metadata);
      case 'QuickReplyCategoriesReordered':
        return projectCategoriesReordered(trx, event.data, e.metadata);
      case 'QuickReplyAdded':
        return insertReplies(trx, event.data, [event.data], e.metadata);
      case 'QuickRepliesImported':
        return insertReplies(trx, event.data, event.data.replies, e.metadata);
      case 'QuickReplyChanged':
        return projectReplyChanged(trx, event.data, e.metadata);
      case 'QuickReplyDeleted':
        return projectReplyDeleted(trx, event.data, e.metadata);
      case 'QuickRepliesReordered':
        return projectRepliesReordered(trx, event.data, e.metadata);
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
  },
};

const tokensOf = (r: Pick<QuickReply, 'title' | 'shortcut' | 'content'>) => sql<string>`array_to_tsvector(${searchTokens(r.title, r.shortcut, r.content)}::text[])`;

async function projectCategoryCreated(trx: Trx, d: Of<'QuickReplyCategoryCreated'>, m: EventMetadata) {
  const last = await trx
    .selectFrom('quick_reply_categories')
    .select((eb) => eb.fn.max('position').as('p'))
    .where('instance_id', '=', m.instanceId)
    .executeTakeFirst();
  await trx
    .insertInto('quick_reply_categories')
    .values({
      instance_id: m.instanceId,
      id: d.categoryId,
      name: d.name,
      scope_kind: d.scope.kind,
      skill_group_ids: d.scope.kind === 'SKILL_GROUPS' ? d.scope.skillGroupIds : [],
      agent_ids: d.scope.kind === 'AGENTS' ? d.scope.agentIds : [],
      position: (last?.p ?? -1) + 1,
      created_at: m.occurredAt,
      updated_at: m.occurredAt,
    })
    .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
    .execute();
}

async function projectCategoryChanged(trx: Trx, d: Of<'QuickReplyCategoryChanged'>, m: EventMetadata) {
  await trx
    .updateTable('quick_reply_categories')
    .set({
      name: d.name,
      scope_kind: d.scope.kind,
      skill_group_ids: d.scope.kind === 'SKILL_GROUPS' ? d.scope.skillGroupIds : [],
      agent_ids: d.scope.kind === 'AGENTS' ? d.scope.agentIds : [],
      updated_at: m.occurredAt,
    })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', d.categoryId)
    .execute();
}

async function projectCategoryDeleted(trx: Trx, d: Of<'QuickReplyCategoryDeleted'>, m: EventMetadata) {
  await trx.deleteFrom('quick_replies').where('instance_id', '=', m.instanceId).where('category_id', '=', d.categoryId).execute();
  await trx.deleteFrom('quick_reply_categories').where('instance_id', '=', m.instanceId).where('id', '=', d.categoryId).execute();
}

async function projectCategoriesReordered(trx: Trx, d: Of<'QuickReplyCategoriesReordered'>, m: EventMetadata) {
  await sql`UPDATE quick_reply_categories c SET position = v.ord - 1
    FROM unnest(${d.categoryIds}::text[]) WITH ORDINALITY AS v(id, ord)
    WHERE c.instance_id = ${m.instanceId} AND c.id = v.id AND c.position <> v.ord - 1`.execute(trx);
  await sql`UPDATE quick_replies r SET sort_key = (c.position + 1)::bigint * ${listSpan} + r.position
    FROM quick_reply_categories c
    WHERE r.instance_id = ${m.instanceId} AND c.instance_id = r.instance_id AND c.id = r.category_id
      AND r.sort_key <> (c.position + 1)::bigint * ${listSpan} + r.position`.execute(trx);
}

/** Where the list's replies sort: personal lists first (0), then each category after its position. */
async function listBase(trx: Trx, instanceId: string, o: ReplyListOwner): Promise<number | null> {
  if (o.categoryId === null) return 0;
  const c = await trx.selectFrom('quick_reply_categories').select('position').where('instance_id', '=', instanceId).where('id', '=', o.categoryId).executeTakeFirst();
  return c ? (c.position + 1) * listSpan : null;
}

async function insertReplies(trx: Trx, o: ReplyListOwner, replies: QuickReply[], m: EventMetadata) {
  const base = await listBase(trx, m.instanceId, o);
  // A reply of a category deleted meanwhile is not shown anywhere.
  if (base === null) return;
  let q = trx.selectFrom('quick_replies').select((eb) => eb.fn.max('position').as('p')).where('instance_id', '=', m.instanceId);
  q = o.categoryId === null ? q.where('category_id', 'is', null).where('agent_id', '=', o.agentId) : q.where('category_id', '=', o.categoryId);
  const last = await q.executeTakeFirst();
  let position = (last?.p ?? -1) + 1;
  // 14 parameters a row: stay well below PostgreSQL's 65,535 per statement.
  for (let i = 0; i < replies.length; i += 1000) {
    const values = replies.slice(i, i + 1000).map((r) => {
      const p = position++;
      return {
        instance_id: m.instanceId,
        id: r.replyId,
        category_id: o.categoryId,
        agent_id: o.agentId,
        title: r.title,
        shortcut: r.shortcut,
        shortcut_key: shortcutKey(r.shortcut),
        content: r.content,
        image_url: r.imageUrl,
        position: p,
        sort_key: base + p,
        search_tokens: tokensOf(r),
        created_at: m.occurredAt,
        updated_at: m.occurredAt,
      };
    });
    await trx.insertInto('quick_replies').values(values).onConflict((c) => c.columns(['instance_id', 'id']).doNothing()).execute();
  }
}

async function projectReplyChanged(trx: Trx, d: Of<'QuickReplyChanged'>, m: EventMetadata) {
  await trx
    .updateTable('quick_replies')
    .set({
      title: d.title,
      shortcut: d.shortcut,
      shortcut_key: shortcutKey(d.shortcut),
      content: d.content,
      image_url: d.imageUrl,
      search_tokens: tokensOf(d),
      updated_at: m.occurredAt,
    })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', d.replyId)
    .execute();
}

async function projectReplyDeleted(trx: Trx, d: Of<'QuickReplyDeleted'>, m: EventMetadata) {
  await trx.deleteFrom('quick_replies').where('instance_id', '=', m.instanceId).where('id', '=', d.replyId).execute();
}

async function projectRepliesReordered(trx: Trx, d: Of<'QuickRepliesReordered'>, m: EventMetadata) {
  const base = await listBase(trx, m.instanceId, d);
  if (base === null) return;
  await sql`UPDATE quick_replies r SET position = v.ord - 1, sort_key = ${base}::bigint + v.ord - 1
    FROM unnest(${d.replyIds}::text[]) WITH ORDINALITY AS v(id, ord)
    WHERE r.instance_id = ${m.instanceId} AND r.id = v.id`.execute(trx);
}

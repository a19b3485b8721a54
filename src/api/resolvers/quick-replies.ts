// Quick replies (OL-5, AV-7, AD-4): admins manage shared categories (scope, order) and their replies; every
// agent manages their own personal replies; an agent searches only what is visible to them (personal
// replies, and categories scoped to the instance, to a skill group of theirs, or to them).
import { createHash, randomUUID } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { sql } from 'kysely';
import { z } from 'zod';
import { ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { quickReplyCatalogDecider } from '../../domain/quick-reply/quick-reply-catalog.decide.ts';
import { categoryVisibleTo, type CategoryScope } from '../../domain/quick-reply/quick-reply-catalog.ts';
import { QuickReplyImportError, quickReplyListDecider, shortcutProblems, type ImportRowProblem } from '../../domain/quick-reply/quick-reply-list.decide.ts';
import type { QuickReply, ReplyListOwner } from '../../domain/quick-reply/quick-reply-list.ts';
import {
  categoryName,
  maxImportRows,
  queryWords,
  quickReplyFields,
  replyContent,
  replyImageUrl,
  replyShortcut,
  replyTitle,
  shortcutKey,
} from '../../domain/quick-reply/quick-reply-values.ts';
import { streams } from '../../domain/streams.ts';
import type { QuickReplyCategoryRow, QuickReplyRow } from '../../projections/quick-replies/quick-replies.projection.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { isAdmin, requireAdmin, requireInstance, type InstancePrincipal } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { id, parseInput, searchText } from '../input.ts';

const projections = ['quick-replies'];

export interface QuickReplyView {
  id: string;
  title: string;
  shortcut: string;
  content: string;
  imageUrl: string | null;
  categoryId: string | null;
  personal: boolean;
  position: number;
  createdAt: Date;
  updatedAt: Date;
  sortKey: string;
}

export interface QuickReplyCategoryView {
  id: string;
  instanceId: string;
  name: string;
  position: number;
  scope: { kind: string; skillGroupIds: string[]; agentIds: string[] };
  createdAt: Date;
  updatedAt: Date;
}

const callerAgentId = (p: InstancePrincipal) => (p.kind === 'agent' ? p.agentId : null);

export function toQuickReply(row: QuickReplyRow, agentId: string | null): QuickReplyView {
  return {
    id: row.id,
    title: row.title,
    shortcut: row.shortcut,
    content: row.content,
    imageUrl: row.image_url,
    categoryId: row.category_id,
    personal: row.agent_id !== null && row.agent_id === agentId,
    position: row.position,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    sortKey: String(row.sort_key),
  };
}

export function toQuickReplyCategory(row: QuickReplyCategoryRow): QuickReplyCategoryView {
  return {
    id: row.id,
    instanceId: row.instance_id,
    name: row.name,
    position: row.position,
    scope: { kind: row.scope_kind, skillGroupIds: row.skill_group_ids, agentIds: row.agent_ids },
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

const scopeOfRow = (row: QuickReplyCategoryRow): CategoryScope =>
  row.scope_kind === 'SKILL_GROUPS'
    ? { kind: 'SKILL_GROUPS', skillGroupIds: row.skill_group_ids }
    : row.scope_kind === 'AGENTS'
      ? { kind: 'AGENTS', agentIds: row.agent_ids }
      : { kind: 'INSTANCE' };

/**
 * The shared categories the caller sees: all of them for admin API keys (and, with `adminSeesAll`, for
 * admin agents); for agents, those scoped to the instance, to one of their skill groups or to them.
 */
export async function visibleCategories(db: ReadModel, p: InstancePrincipal, adminSeesAll: boolean): Promise<QuickReplyCategoryRow[]> {
  const rows = await db.selectFrom('quick_reply_categories').selectAll().where('instance_id', '=', p.instanceId).orderBy('position').orderBy('id').execute();
  if (p.kind === 'apiKey') {
    if (p.role !== 'ADMIN') throw new ForbiddenError('Quick replies are for agents and admins');
    return rows;
  }
  if (adminSeesAll && isAdmin(p)) return rows;
  const groups = await db.selectFrom('skill_group_members').select('skill_group_id').where('instance_id', '=', p.instanceId).where('agent_id', '=', p.agentId).execute();
  const groupIds = new Set(groups.map((g) => g.skill_group_id));
  return rows.filter((row) => categoryVisibleTo(scopeOfRow(row), p.agentId, groupIds));
}

// ---------------------------------------------------------------------------------------------------
// Search

/** A search cursor: [phase (0 shortcut matches, 1 word matches), sort_key, id]. */
const searchCursor = z.tuple([z.union([z.literal(0), z.literal(1)]), z.string().regex(/^\d{1,18}$/), id]);
type SearchCursor = z.infer<typeof searchCursor>;

function decodeSearchCursor(after: string): SearchCursor {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
  } catch {
    // same answer as any other foreign cursor
  }
  const c = searchCursor.safeParse(decoded);
  if (!c.success) throw new ValidationError('after', 'not a cursor from this API');
  return c.data;
}

const encodeSearchCursor = (phase: 0 | 1, row: QuickReplyRow) => Buffer.from(JSON.stringify([phase, String(row.sort_key), row.id])).toString('base64url');

/** Every column but search_tokens (a page need not carry the lexemes back). */
const replyColumns = 'instance_id, id, category_id, agent_id, title, shortcut, shortcut_key, content, image_url, position, sort_key, created_at, updated_at';
const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
const shortcutLike = /^[\p{L}\p{N}_\-./]+$/u;

export interface QuickReplySearch {
  instanceId: string;
  /**
   * Whose view: an agent's (their personal replies and the categories scoped to them, decided in the
   * same statement as the search) or every shared reply (admin API keys).
   */
  viewer: { agentId: string } | { allShared: true };
  search: string;
  first: number;
  after: SearchCursor | null;
}

/**
 * The rows an agent sees, as SQL: categoryVisibleTo (src/domain/quick-reply) over the categories and the
 * agent's skill groups, in the search statement itself so a keystroke costs one round trip per phase.
 * The integration spec holds it to the same answers as visibleCategories.
 */
function visibleTo(instanceId: string, viewer: QuickReplySearch['viewer']) {
  if (!('agentId' in viewer)) return sql<boolean>`category_id IS NOT NULL`;
  const me = viewer.agentId;
  return sql<boolean>`((category_id IS NULL AND agent_id = ${me}) OR category_id IN (
    SELECT c.id FROM quick_reply_categories c WHERE c.instance_id = ${instanceId} AND (
      c.scope_kind = 'INSTANCE'
      OR (c.scope_kind = 'AGENTS' AND ${me} = ANY(c.agent_ids))
      OR (c.scope_kind = 'SKILL_GROUPS' AND c.skill_group_ids && ARRAY(
        SELECT m.skill_group_id FROM skill_group_members m WHERE m.instance_id = ${instanceId} AND m.agent_id = ${me})))))`;
}

/**
 * One page of a search in the panel's order: first the replies whose shortcut starts with the search, then
 * those whose tokens start with every word searched (and whose shortcut does not). Each phase walks
 * (sort_key, id), so a page is found through the shortcut or token index or the order index, whichever
 * the planner finds cheaper for the prefix.
 */
export async function searchQuickReplies(db: ReadModel, s: QuickReplySearch): Promise<{ rows: { phase: 0 | 1; row: QuickReplyRow }[]; hasNextPage: boolean }> {
  const trimmed = s.search.trim();
  const key = shortcutLike.test(trimmed) ? shortcutKey(trimmed) : '';
  const words = queryWords(trimmed);
  const tsquery = words.map((w) => `'${w}':*`).join(' & ');
  // Something typed that holds no letter or digit and is no shortcut ("%&!"): nothing matches it.
  if (trimmed !== '' && words.length === 0 && !shortcutLike.test(trimmed)) return { rows: [], hasNextPage: false };
  const visible = visibleTo(s.instanceId, s.viewer);
  const want = s.first + 1;
  // Both phases in one statement (one round trip per keystroke), each walking its own order and limit.
  const branches = [];
  for (const phase of key !== '' ? ([0, 1] as const) : ([1] as const)) {
    if (s.after && s.after[0] > phase) continue;
    if (phase === 1 && key !== '' && words.length === 0) continue;
    const conditions = [sql<boolean>`instance_id = ${s.instanceId}`, visible];
    if (phase === 0) conditions.push(sql<boolean>`shortcut_key LIKE ${likePrefix(key)}`);
    else {
      if (tsquery !== '') conditions.push(sql<boolean>`search_tokens @@ ${tsquery}::tsquery`);
      if (key !== '') conditions.push(sql<boolean>`shortcut_key NOT LIKE ${likePrefix(key)}`);
    }
    if (s.after && s.after[0] === phase) conditions.push(sql<boolean>`(sort_key, id) > (${s.after[1]}::bigint, ${s.after[2]})`);
    branches.push(sql`(SELECT ${sql.lit(phase)} AS phase, ${sql.raw(replyColumns)} FROM quick_replies WHERE ${sql.join(conditions, sql` AND `)} ORDER BY sort_key, id LIMIT ${want})`);
  }
  if (branches.length === 0) return { rows: [], hasNextPage: false };
  const statement = branches.length === 1 ? branches[0]! : sql`${sql.join(branches, sql` UNION ALL `)} ORDER BY phase, sort_key, id LIMIT ${want}`;
  const { rows } = await statement.execute(db);
  const out = (rows as (QuickReplyRow & { phase: number })[]).map(({ phase, ...row }) => ({ phase: phase === 0 ? (0 as const) : (1 as const), row: row as QuickReplyRow }));
  return { rows: out.slice(0, s.first), hasNextPage: out.length > s.first };
}

// ---------------------------------------------------------------------------------------------------
// Lists and checks

async function loadCategoryRow(ctx: KefuContext, instanceId: string, categoryId: string): Promise<QuickReplyCategoryRow> {
  const row = await ctx.deps.db.selectFrom('quick_reply_categories').selectAll().where('instance_id', '=', instanceId).where('id', '=', categoryId).executeTakeFirst();
  if (!row) throw new NotFoundError('Quick-reply category', categoryId);
  return row;
}

/**
 * The list a mutation acts on: a shared category (admins only; it must exist) or the calling agent's
 * personal replies (agents only: an API key has no personal list).
 */
async function listOf(ctx: KefuContext, p: InstancePrincipal, categoryId: string | null | undefined, field: string): Promise<{ owner: ReplyListOwner; stream: string }> {
  if (categoryId) {
    if (!isAdmin(p)) throw new ForbiddenError('Only an instance admin manages shared quick replies; agents manage their personal ones (no categoryId)');
    const { state } = await ctx.deps.commands.load(streams.quickReplyCatalog(p.instanceId), quickReplyCatalogDecider);
    if (!state.categories.has(categoryId)) throw new NotFoundError('Quick-reply category', categoryId);
    return { owner: { categoryId, agentId: null }, stream: streams.quickReplyCategory(p.instanceId, categoryId) };
  }
  if (p.kind !== 'agent') throw new ValidationError(field, 'an API key has no personal quick replies: name a categoryId');
  return { owner: { categoryId: null, agentId: p.agentId }, stream: streams.quickReplyPersonal(p.instanceId, p.agentId) };
}

/** A reply the caller may change: a shared one (admins) or their own personal one; anything else NOT_FOUND. */
async function loadOwnReply(ctx: KefuContext, p: InstancePrincipal, replyId: string): Promise<QuickReplyRow> {
  const row = await ctx.deps.db.selectFrom('quick_replies').selectAll().where('instance_id', '=', p.instanceId).where('id', '=', replyId).executeTakeFirst();
  if (!row) throw new NotFoundError('Quick reply', replyId);
  if (row.category_id === null) {
    if (row.agent_id !== callerAgentId(p)) throw new NotFoundError('Quick reply', replyId);
  } else if (!isAdmin(p)) {
    throw new ForbiddenError('Only an instance admin manages shared quick replies');
  }
  return row;
}

const scopeInput = z.object({
  kind: z.enum(['INSTANCE', 'SKILL_GROUPS', 'AGENTS']),
  skillGroupIds: z.array(id).max(200, 'at most 200').nullish(),
  agentIds: z.array(id).max(1000, 'at most 1000').nullish(),
});

/** The scope as the decider takes it, every skill group and agent named checked to be the instance's. */
async function checkedScope(ctx: KefuContext, instanceId: string, input: z.infer<typeof scopeInput>, field: string): Promise<CategoryScope> {
  if (input.kind === 'INSTANCE') return { kind: 'INSTANCE' };
  if (input.kind === 'SKILL_GROUPS') {
    const ids = [...new Set(input.skillGroupIds ?? [])];
    if (ids.length === 0) throw new ValidationError(`${field}.skillGroupIds`, 'name at least one skill group');
    const found = await ctx.deps.db.selectFrom('skill_groups').select('id').where('instance_id', '=', instanceId).where('id', 'in', ids).execute();
    const missing = ids.find((g) => !found.some((f) => f.id === g));
    if (missing) throw new ValidationError(`${field}.skillGroupIds`, `no skill group ${missing}`);
    return { kind: 'SKILL_GROUPS', skillGroupIds: ids };
  }
  const ids = [...new Set(input.agentIds ?? [])];
  if (ids.length === 0) throw new ValidationError(`${field}.agentIds`, 'name at least one agent');
  const found = await ctx.deps.db.selectFrom('agents').select('id').where('instance_id', '=', instanceId).where('id', 'in', ids).where('deleted_at', 'is', null).execute();
  const missing = ids.find((a) => !found.some((f) => f.id === a));
  if (missing) throw new ValidationError(`${field}.agentIds`, `no agent ${missing}`);
  return { kind: 'AGENTS', agentIds: ids };
}

// ---------------------------------------------------------------------------------------------------
// CSV

const csvColumns = ['title', 'shortcut', 'content', 'imageUrl'] as const;
const headerNames: Record<string, (typeof csvColumns)[number]> = { title: 'title', shortcut: 'shortcut', content: 'content', imageurl: 'imageUrl', image_url: 'imageUrl', image: 'imageUrl' };
/** What csv-stringify's escape_formulas puts before a cell; an import takes it off again. */
const escapedFormula = /^'[=+\-@\t\r]/;

/**
 * The rows of an import, each checked on its own: the good rows and every problem of the bad ones, with the
 * row in the file (the header is row 1). A bad header or a file that is not CSV throws at once.
 */
export function parseQuickReplyCsv(csv: string): { rows: (Omit<QuickReply, 'replyId'> & { row: number })[]; problems: ImportRowProblem[] } {
  let records: string[][];
  try {
    records = parseCsv(csv, { bom: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (err) {
    const e = err as { message?: string; lines?: number };
    throw new ValidationError('input.csv', `not valid CSV${e.lines ? ` (line ${e.lines})` : ''}: ${(e.message ?? '').slice(0, 200)}`);
  }
  if (records.length === 0) throw new ValidationError('input.csv', 'empty: a header row (title, shortcut, content, imageUrl) is required');
  const header = records[0]!.map((h) => headerNames[h.trim().toLowerCase()]);
  const problems: ImportRowProblem[] = [];
  records[0]!.forEach((h, i) => {
    if (header[i] === undefined) problems.push({ row: 1, field: h.slice(0, 50), problem: 'unknown column; expected title, shortcut, content, imageUrl' });
    else if (header.indexOf(header[i]) !== i) problems.push({ row: 1, field: h.slice(0, 50), problem: 'column given twice' });
  });
  for (const needed of ['title', 'shortcut', 'content'] as const) {
    if (!header.includes(needed)) problems.push({ row: 1, field: needed, problem: 'column missing' });
  }
  if (problems.length > 0) throw new QuickReplyImportError(problems);
  const dataRows = records.slice(1);
  if (dataRows.length === 0) throw new ValidationError('input.csv', 'has no rows after the header');
  if (dataRows.length > maxImportRows) throw new ValidationError('input.csv', `${dataRows.length} rows; at most ${maxImportRows} in one import`);
  const rows: (Omit<QuickReply, 'replyId'> & { row: number })[] = [];
  dataRows.forEach((cells, i) => {
    const raw: Record<string, string | null> = {};
    header.forEach((column, c) => {
      const cell = cells[c] ?? '';
      raw[column!] = escapedFormula.test(cell) ? cell.slice(1) : cell;
    });
    if (raw.imageUrl === '' || raw.imageUrl === undefined) raw.imageUrl = null;
    const parsed = quickReplyFields.safeParse(raw);
    if (parsed.success) rows.push({ ...parsed.data, row: i + 2 });
    else {
      const byField = new Map<string, string>();
      for (const issue of parsed.error.issues) if (!byField.has(String(issue.path[0]))) byField.set(String(issue.path[0]), issue.message);
      for (const [field, problem] of byField) problems.push({ row: i + 2, field, problem });
    }
  });
  return { rows, problems };
}

export function quickRepliesCsv(rows: Pick<QuickReplyRow, 'title' | 'shortcut' | 'content' | 'image_url'>[]): string {
  return stringifyCsv(
    rows.map((r) => [r.title, r.shortcut, r.content, r.image_url ?? '']),
    { bom: true, header: true, columns: [...csvColumns], record_delimiter: 'windows', escape_formulas: true },
  );
}

/** Reply ids of an import derive from the list and the file, so a retried import is recognised (and adds nothing). */
function importedReplyId(instanceId: string, owner: ReplyListOwner, csv: string, index: number): string {
  const h = createHash('sha256').update(`${instanceId}\n${owner.categoryId ?? ''}\n${owner.agentId ?? ''}\n${index}\n`).update(csv).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// ---------------------------------------------------------------------------------------------------
// Resolvers

const searchArgs = z.object({
  search: searchText.nullish(),
  first: z.number().int().min(0, 'must not be negative').max(200, 'at most 200').nullish(),
  after: z.string().max(500).nullish(),
});
const pageArgs = z.object({
  first: z.number().int().min(0, 'must not be negative').max(200, 'at most 200').nullish(),
  after: z.string().max(500).nullish(),
});
const createCategoryInput = z.object({ name: categoryName, scope: scopeInput });
const updateCategoryInput = z.object({ id, name: categoryName.nullish(), scope: scopeInput.nullish() });
const createReplyInput = z.object({
  categoryId: id.nullish(),
  title: replyTitle,
  shortcut: replyShortcut,
  content: replyContent,
  imageUrl: replyImageUrl.nullish(),
});
const updateReplyInput = z.object({
  id,
  title: replyTitle.nullish(),
  shortcut: replyShortcut.nullish(),
  content: replyContent.nullish(),
  imageUrl: replyImageUrl.nullish(),
});
const reorderRepliesInput = z.object({ categoryId: id.nullish(), replyIds: z.array(id).max(10_000, 'at most 10000') });
const importInput = z.object({ categoryId: id.nullish(), csv: z.string().max(5_000_000, 'at most 5,000,000 characters') });

async function catalogCommand(ctx: KefuContext, p: InstancePrincipal, command: Parameters<typeof quickReplyCatalogDecider.decide>[0]) {
  const result = await inInput(ctx.deps.commands.handle(streams.quickReplyCatalog(p.instanceId), quickReplyCatalogDecider, command));
  await settle(ctx, result.position, projections);
  return result;
}

async function listCommand(ctx: KefuContext, stream: string, command: Parameters<typeof quickReplyListDecider.decide>[0]) {
  const result = await inInput(ctx.deps.commands.handle(stream, quickReplyListDecider, command));
  await settle(ctx, result.position, projections);
  return result;
}

async function listRows(db: ReadModel, instanceId: string, owner: ReplyListOwner): Promise<QuickReplyRow[]> {
  let q = db.selectFrom('quick_replies').selectAll().where('instance_id', '=', instanceId);
  q = owner.categoryId !== null ? q.where('category_id', '=', owner.categoryId) : q.where('category_id', 'is', null).where('agent_id', '=', owner.agentId);
  return q.orderBy('position').orderBy('id').execute();
}

export const quickReplyResolvers = {
  Query: {
    async quickReplies(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const args = parseInput(searchArgs, rawArgs, '');
      if (p.kind === 'apiKey' && p.role !== 'ADMIN') throw new ForbiddenError('Quick replies are for agents and admins');
      const agentId = callerAgentId(p);
      const page = await searchQuickReplies(ctx.deps.db, {
        instanceId: p.instanceId,
        viewer: agentId === null ? { allShared: true } : { agentId },
        search: args.search ?? '',
        first: args.first ?? 20,
        after: args.after ? decodeSearchCursor(args.after) : null,
      });
      const edges = page.rows.map(({ phase, row }) => ({ cursor: encodeSearchCursor(phase, row), node: toQuickReply(row, agentId) }));
      return { edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
    },
    async quickReplyCategories(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      return (await visibleCategories(ctx.deps.db, p, true)).map(toQuickReplyCategory);
    },
    async exportQuickReplies(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const args = parseInput(z.object({ categoryId: id.nullish() }), rawArgs, '');
      let owner: ReplyListOwner;
      if (args.categoryId) {
        requireAdmin(p);
        await loadCategoryRow(ctx, p.instanceId, args.categoryId);
        owner = { categoryId: args.categoryId, agentId: null };
      } else {
        if (p.kind !== 'agent') throw new ValidationError('categoryId', 'an API key has no personal quick replies: name a categoryId');
        owner = { categoryId: null, agentId: p.agentId };
      }
      return quickRepliesCsv(await listRows(ctx.deps.db, p.instanceId, owner));
    },
  },
  Mutation: {
    async createQuickReplyCategory(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createCategoryInput, args.input);
      const scope = await checkedScope(ctx, p.instanceId, input.scope, 'input.scope');
      const categoryId = randomUUID();
      await catalogCommand(ctx, p, { type: 'CreateQuickReplyCategory', data: { categoryId, name: input.name, scope }, metadata: commandMetadata(ctx, p.instanceId) });
      return toQuickReplyCategory(await loadCategoryRow(ctx, p.instanceId, categoryId));
    },
    async updateQuickReplyCategory(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(updateCategoryInput, args.input);
      const row = await loadCategoryRow(ctx, p.instanceId, input.id);
      const scope = input.scope ? await checkedScope(ctx, p.instanceId, input.scope, 'input.scope') : scopeOfRow(row);
      await catalogCommand(ctx, p, {
        type: 'ChangeQuickReplyCategory',
        data: { categoryId: input.id, name: input.name ?? row.name, scope },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toQuickReplyCategory(await loadCategoryRow(ctx, p.instanceId, input.id));
    },
    async deleteQuickReplyCategory(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(z.object({ id }), args.input);
      const row = await loadCategoryRow(ctx, p.instanceId, input.id);
      await catalogCommand(ctx, p, { type: 'DeleteQuickReplyCategory', data: { categoryId: input.id }, metadata: commandMetadata(ctx, p.instanceId) });
      return toQuickReplyCategory(row);
    },
    async reorderQuickReplyCategories(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(z.object({ categoryIds: z.array(id).max(200, 'at most 200') }), args.input);
      await catalogCommand(ctx, p, { type: 'ReorderQuickReplyCategories', data: { categoryIds: input.categoryIds }, metadata: commandMetadata(ctx, p.instanceId) });
      return (await visibleCategories(ctx.deps.db, p, true)).map(toQuickReplyCategory);
    },
    async createQuickReply(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(createReplyInput, args.input);
      const { owner, stream } = await listOf(ctx, p, input.categoryId, 'input.categoryId');
      const replyId = randomUUID();
      await listCommand(ctx, stream, {
        type: 'AddQuickReply',
        data: { ...owner, replyId, title: input.title, shortcut: input.shortcut, content: input.content, imageUrl: input.imageUrl ?? null },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toQuickReply(await loadOwnReply(ctx, p, replyId), callerAgentId(p));
    },
    async updateQuickReply(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(updateReplyInput, args.input);
      const row = await loadOwnReply(ctx, p, input.id);
      const { owner, stream } = await listOf(ctx, p, row.category_id, 'input.id');
      const imageUrl = (args.input as { imageUrl?: unknown }).imageUrl === undefined ? row.image_url : (input.imageUrl ?? null);
      await listCommand(ctx, stream, {
        type: 'ChangeQuickReply',
        data: { ...owner, replyId: row.id, title: input.title ?? row.title, shortcut: input.shortcut ?? row.shortcut, content: input.content ?? row.content, imageUrl },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toQuickReply(await loadOwnReply(ctx, p, row.id), callerAgentId(p));
    },
    async deleteQuickReply(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(z.object({ id }), args.input);
      const row = await loadOwnReply(ctx, p, input.id);
      const { owner, stream } = await listOf(ctx, p, row.category_id, 'input.id');
      await listCommand(ctx, stream, { type: 'DeleteQuickReply', data: { ...owner, replyId: row.id }, metadata: commandMetadata(ctx, p.instanceId) });
      return { id: row.id };
    },
    async reorderQuickReplies(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(reorderRepliesInput, args.input);
      const { owner, stream } = await listOf(ctx, p, input.categoryId, 'input.categoryId');
      await listCommand(ctx, stream, { type: 'ReorderQuickReplies', data: { ...owner, replyIds: input.replyIds }, metadata: commandMetadata(ctx, p.instanceId) });
      return (await listRows(ctx.deps.db, p.instanceId, owner)).map((r) => toQuickReply(r, callerAgentId(p)));
    },
    async importQuickReplies(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(importInput, args.input);
      const { owner, stream } = await listOf(ctx, p, input.categoryId, 'input.categoryId');
      const { rows, problems } = parseQuickReplyCsv(input.csv);
      const replies = rows.map((r, i) => ({ title: r.title, shortcut: r.shortcut, content: r.content, imageUrl: r.imageUrl, replyId: importedReplyId(p.instanceId, owner, input.csv, i) }));
      // Every problem at once: the rows' own, then shortcuts the list already uses or the file repeats
      // (the decider checks these again, against the list as it is when the import is appended).
      const { state } = await ctx.deps.commands.load(stream, quickReplyListDecider);
      const retry = problems.length === 0 && replies.every((r) => state.replies.has(r.replyId));
      const all = retry ? [] : [...problems, ...shortcutProblems(state, rows)].sort((a, b) => a.row - b.row);
      if (all.length > 0) throw new QuickReplyImportError(all);
      try {
        const result = await listCommand(ctx, stream, { type: 'ImportQuickReplies', data: { ...owner, replies }, metadata: commandMetadata(ctx, p.instanceId) });
        return { imported: result.events.length === 0 ? 0 : replies.length };
      } catch (err) {
        // The decider counts rows from 1 without the header; the file's rows count the header as row 1.
        if (err instanceof QuickReplyImportError) throw new QuickReplyImportError(err.rows.map((r) => ({ ...r, row: rows[r.row - 1]?.row ?? r.row + 1 })));
        throw err;
      }
    },
  },
  QuickReplyCategory: {
    async replyCount(c: QuickReplyCategoryView, _: unknown, ctx: KefuContext) {
      const r = await ctx.deps.db
        .selectFrom('quick_replies')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('instance_id', '=', c.instanceId)
        .where('category_id', '=', c.id)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    async replies(c: QuickReplyCategoryView, rawArgs: unknown, ctx: KefuContext) {
      const args = parseInput(pageArgs, rawArgs, '');
      const first = args.first ?? 50;
      let q = ctx.deps.db.selectFrom('quick_replies').selectAll().where('instance_id', '=', c.instanceId).where('category_id', '=', c.id);
      if (args.after) {
        const [, sortKey, replyId] = decodeSearchCursor(args.after);
        q = q.where(sql<boolean>`(sort_key, id) > (${sortKey}::bigint, ${replyId})`);
      }
      const rows = await q.orderBy('sort_key').orderBy('id').limit(first + 1).execute();
      const edges = rows.slice(0, first).map((row) => ({ cursor: encodeSearchCursor(1, row), node: toQuickReply(row, null) }));
      return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
    },
  },
};

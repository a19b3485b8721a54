// Quick replies as a specification: the catalog of shared categories (limit, names, scope, order), one
// list of replies (shortcuts unique, order, all-or-nothing import), who sees a category, and the search
// tokens the projection stores.
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { quickReplyCatalogDecider, type QuickReplyCatalogCommand } from '../../src/domain/quick-reply/quick-reply-catalog.decide.ts';
import { categoryVisibleTo, type QuickReplyCatalogEvent, type CategoryScope } from '../../src/domain/quick-reply/quick-reply-catalog.ts';
import { QuickReplyImportError, quickReplyListDecider, type QuickReplyListCommand } from '../../src/domain/quick-reply/quick-reply-list.decide.ts';
import type { QuickReply, QuickReplyListEvent } from '../../src/domain/quick-reply/quick-reply-list.ts';
import { maxCategories, maxPersonalReplies, queryWords, quickReplyFields, searchTokens, shortcutKey } from '../../src/domain/quick-reply/quick-reply-values.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const catalog = deciderSpec(quickReplyCatalogDecider);
const list = deciderSpec(quickReplyListDecider);
const everyone: CategoryScope = { kind: 'INSTANCE' };

const created = (categoryId: string, name = categoryId, scope: CategoryScope = everyone): QuickReplyCatalogEvent => ({
  type: 'QuickReplyCategoryCreated',
  data: { categoryId, name, scope },
});
const create = (categoryId: string, name = categoryId, scope: CategoryScope = everyone): QuickReplyCatalogCommand => ({
  type: 'CreateQuickReplyCategory',
  data: { categoryId, name, scope },
  metadata: meta(),
});

const shared = { categoryId: 'cat-1', agentId: null };
const personal = { categoryId: null, agentId: 'agent-1' };
const reply = (replyId: string, shortcut = replyId, more: Partial<QuickReply> = {}): QuickReply => ({ replyId, title: `T ${replyId}`, shortcut, content: `C ${replyId}`, imageUrl: null, ...more });
const added = (r: QuickReply, owner: { categoryId: string | null; agentId: string | null } = shared): QuickReplyListEvent => ({ type: 'QuickReplyAdded', data: { ...owner, ...r } });
const cmd = <T extends QuickReplyListCommand['type']>(type: T, data: Extract<QuickReplyListCommand, { type: T }>['data']) => ({ type, data, metadata: meta() }) as QuickReplyListCommand;

describe('quick-reply catalog', () => {
  describe('creating a category', () => {
    it('adds it with its scope', () => {
      catalog.given([]).when(create('c1', 'Greetings')).then([created('c1', 'Greetings')]);
    });
    it('drops repeated ids of a scope', () => {
      catalog
        .given([])
        .when(create('c1', 'Billing', { kind: 'SKILL_GROUPS', skillGroupIds: ['g1', 'g1', 'g2'] }))
        .then([created('c1', 'Billing', { kind: 'SKILL_GROUPS', skillGroupIds: ['g1', 'g2'] })]);
    });
    it('refuses a scope naming nobody', () => {
      catalog.given([]).when(create('c1', 'x', { kind: 'AGENTS', agentIds: [] })).thenThrows(ValidationError, /scope\.agentIds/);
    });
    it('refuses a name already used, whatever its case', () => {
      catalog.given([created('c1', 'Greetings')]).when(create('c2', 'GREETINGS')).thenThrows(ConflictError);
    });
    it(`refuses a category past ${maxCategories}`, () => {
      const full = Array.from({ length: maxCategories }, (_, i) => created(`c${i}`));
      catalog.given(full).when(create('one-more')).thenThrows(ConflictError, /at most 100/);
    });
    it('is idempotent for the same id', () => {
      catalog.given([created('c1')]).when(create('c1')).then([]);
    });
  });

  describe('changing, deleting and ordering', () => {
    it('changes name and scope; the same values change nothing', () => {
      const scope: CategoryScope = { kind: 'AGENTS', agentIds: ['a1'] };
      catalog
        .given([created('c1', 'Old')])
        .when({ type: 'ChangeQuickReplyCategory', data: { categoryId: 'c1', name: 'New', scope }, metadata: meta() })
        .then([{ type: 'QuickReplyCategoryChanged', data: { categoryId: 'c1', name: 'New', scope } }]);
      catalog.given([created('c1', 'Old')]).when({ type: 'ChangeQuickReplyCategory', data: { categoryId: 'c1', name: 'Old', scope: everyone }, metadata: meta() }).then([]);
    });
    it('deletes once; a deleted category cannot be changed', () => {
      const deleted: QuickReplyCatalogEvent = { type: 'QuickReplyCategoryDeleted', data: { categoryId: 'c1' } };
      catalog.given([created('c1')]).when({ type: 'DeleteQuickReplyCategory', data: { categoryId: 'c1' }, metadata: meta() }).then([deleted]);
      catalog.given([created('c1'), deleted]).when({ type: 'DeleteQuickReplyCategory', data: { categoryId: 'c1' }, metadata: meta() }).then([]);
      catalog.given([created('c1'), deleted]).when({ type: 'ChangeQuickReplyCategory', data: { categoryId: 'c1', name: 'x', scope: everyone }, metadata: meta() }).thenThrows(NotFoundError);
      // Its name is free again.
      catalog.given([created('c1', 'Name'), deleted]).when(create('c2', 'Name')).then([created('c2', 'Name')]);
    });
    it('reorders when every live category is named once', () => {
      const given = [created('a'), created('b'), created('c')];
      catalog
        .given(given)
        .when({ type: 'ReorderQuickReplyCategories', data: { categoryIds: ['c', 'a', 'b'] }, metadata: meta() })
        .then([{ type: 'QuickReplyCategoriesReordered', data: { categoryIds: ['c', 'a', 'b'] } }]);
      catalog.given(given).when({ type: 'ReorderQuickReplyCategories', data: { categoryIds: ['a', 'b', 'c'] }, metadata: meta() }).then([]);
      catalog.given(given).when({ type: 'ReorderQuickReplyCategories', data: { categoryIds: ['a', 'b'] }, metadata: meta() }).thenThrows(ValidationError, /all 3/);
      catalog.given(given).when({ type: 'ReorderQuickReplyCategories', data: { categoryIds: ['a', 'a', 'b'] }, metadata: meta() }).thenThrows(ValidationError, /twice/);
      catalog.given(given).when({ type: 'ReorderQuickReplyCategories', data: { categoryIds: ['a', 'b', 'x'] }, metadata: meta() }).thenThrows(ValidationError, /no category x/);
    });
  });

  describe('who sees a category', () => {
    const groups = new Set(['g1']);
    it('everyone sees an INSTANCE category', () => {
      expect(categoryVisibleTo(everyone, 'a1', new Set())).toBe(true);
    });
    it('members of a chosen skill group see a SKILL_GROUPS category, others do not', () => {
      expect(categoryVisibleTo({ kind: 'SKILL_GROUPS', skillGroupIds: ['g2', 'g1'] }, 'a1', groups)).toBe(true);
      expect(categoryVisibleTo({ kind: 'SKILL_GROUPS', skillGroupIds: ['g2'] }, 'a1', groups)).toBe(false);
    });
    it('only the chosen agents see an AGENTS category', () => {
      expect(categoryVisibleTo({ kind: 'AGENTS', agentIds: ['a1'] }, 'a1', groups)).toBe(true);
      expect(categoryVisibleTo({ kind: 'AGENTS', agentIds: ['a1'] }, 'a2', groups)).toBe(false);
    });
  });
});

describe('a list of quick replies', () => {
  it('adds a reply; a shortcut is unique in the list without case or leading slash', () => {
    list.given([]).when(cmd('AddQuickReply', { ...shared, ...reply('r1', '/Hello') })).then([added(reply('r1', '/Hello'))]);
    list.given([added(reply('r1', '/Hello'))]).when(cmd('AddQuickReply', { ...shared, ...reply('r2', 'hello') })).thenThrows(ValidationError, /shortcut/);
    list.given([added(reply('r1', '/Hello'))]).when(cmd('AddQuickReply', { ...shared, ...reply('r1', 'other') })).then([]);
  });
  it(`holds at most ${maxPersonalReplies} personal replies`, () => {
    const full = Array.from({ length: maxPersonalReplies }, (_, i) => added(reply(`r${i}`), personal));
    list.given(full).when(cmd('AddQuickReply', { ...personal, ...reply('more') })).thenThrows(ConflictError);
  });
  it('changes a reply, keeping or moving its shortcut; another reply’s shortcut is refused', () => {
    const given = [added(reply('r1', 'a')), added(reply('r2', 'b'))];
    list
      .given(given)
      .when(cmd('ChangeQuickReply', { ...shared, ...reply('r1', 'A', { title: 'New' }) }))
      .then([{ type: 'QuickReplyChanged', data: { ...shared, ...reply('r1', 'A', { title: 'New' }) } }]);
    list.given(given).when(cmd('ChangeQuickReply', { ...shared, ...reply('r1', 'b') })).thenThrows(ValidationError, /shortcut/);
    list.given(given).when(cmd('ChangeQuickReply', { ...shared, ...reply('r1', 'a') })).then([]);
    list.given(given).when(cmd('ChangeQuickReply', { ...shared, ...reply('nope', 'z') })).thenThrows(NotFoundError);
  });
  it('deletes once, and frees the shortcut', () => {
    const deleted: QuickReplyListEvent = { type: 'QuickReplyDeleted', data: { ...shared, replyId: 'r1' } };
    list.given([added(reply('r1', 'a'))]).when(cmd('DeleteQuickReply', { ...shared, replyId: 'r1' })).then([deleted]);
    list.given([added(reply('r1', 'a')), deleted]).when(cmd('DeleteQuickReply', { ...shared, replyId: 'r1' })).then([]);
    list.given([added(reply('r1', 'a')), deleted]).when(cmd('AddQuickReply', { ...shared, ...reply('r2', 'a') })).then([added(reply('r2', 'a'))]);
  });
  it('reorders when every reply is named once', () => {
    const given = [added(reply('r1')), added(reply('r2'))];
    list.given(given).when(cmd('ReorderQuickReplies', { ...shared, replyIds: ['r2', 'r1'] })).then([{ type: 'QuickRepliesReordered', data: { ...shared, replyIds: ['r2', 'r1'] } }]);
    list.given(given).when(cmd('ReorderQuickReplies', { ...shared, replyIds: ['r2'] })).thenThrows(ValidationError);
  });

  describe('importing', () => {
    it('adds all rows in one event', () => {
      const rows = [reply('i1', 'x'), reply('i2', 'y')];
      list.given([added(reply('r1', 'a'))]).when(cmd('ImportQuickReplies', { ...shared, replies: rows })).then([{ type: 'QuickRepliesImported', data: { ...shared, replies: rows } }]);
    });
    it('refuses the whole file, naming every row whose shortcut is taken or repeated', () => {
      const run = () =>
        quickReplyListDecider.decide(
          { type: 'ImportQuickReplies', data: { ...shared, replies: [reply('i1', 'ok'), reply('i2', 'A'), reply('i3', 'OK'), reply('i4', 'fine')] }, metadata: meta() },
          [added(reply('r1', 'a'))].reduce(quickReplyListDecider.evolve, quickReplyListDecider.initialState()),
        );
      expect(run).toThrow(QuickReplyImportError);
      try {
        run();
      } catch (err) {
        expect((err as QuickReplyImportError).rows).toEqual([
          { row: 2, field: 'shortcut', problem: expect.stringContaining('already used') },
          { row: 3, field: 'shortcut', problem: expect.stringContaining('row 1') },
        ]);
      }
    });
    it('is a retry (nothing) when every row is already there', () => {
      const rows = [reply('i1', 'x'), reply('i2', 'y')];
      list.given([{ type: 'QuickRepliesImported', data: { ...shared, replies: rows } }]).when(cmd('ImportQuickReplies', { ...shared, replies: rows })).then([]);
    });
    it('refuses an import past the list’s limit', () => {
      const rows = Array.from({ length: maxPersonalReplies + 1 }, (_, i) => reply(`i${i}`));
      list.given([]).when(cmd('ImportQuickReplies', { ...personal, replies: rows })).thenThrows(ValidationError, /at most/);
    });
  });
});

describe('quick-reply values and search tokens', () => {
  it('compares shortcuts without case and leading slashes', () => {
    expect(shortcutKey('/Refund-1')).toBe('refund-1');
    expect(shortcutKey('//x')).toBe('x');
  });
  it('checks a reply’s fields', () => {
    expect(quickReplyFields.safeParse({ title: 'T', shortcut: 'ok_1.2/x', content: 'C' }).success).toBe(true);
    expect(quickReplyFields.safeParse({ title: 'T', shortcut: 'no spaces', content: 'C' }).success).toBe(false);
    expect(quickReplyFields.safeParse({ title: 'T', shortcut: 's', content: 'C', imageUrl: 'data:image/png;base64,AA' }).success).toBe(false);
    expect(quickReplyFields.safeParse({ title: 'T', shortcut: 's', content: 'a\u0000b' }).success).toBe(false);
  });
  it('tokens are lower-cased words of letters and digits', () => {
    expect(searchTokens('Refund, in 3 DAYS!', 'refund-1')).toEqual(['refund', 'in', '3', 'days', '1']);
  });
  it('a CJK run gives its suffixes, so any part of it is a prefix of a token', () => {
    const tokens = searchTokens('退款流程');
    expect(tokens).toEqual(['退款流程', '款流程', '流程', '程']);
    for (const part of ['退款', '款流', '流程']) expect(tokens.some((t) => t.startsWith(part))).toBe(true);
    expect(searchTokens('订单ABC123号')).toEqual(['订单', '单', 'abc123', '号']);
  });
  it('query words hold only letters and digits (safe in a tsquery)', () => {
    expect(queryWords(`it's a "test" :* & | !`)).toEqual(['it', 's', 'a', 'test']);
  });
});

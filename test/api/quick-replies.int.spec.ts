// Quick replies (OL-5, AV-7, AD-4) through the public API on PGlite and PostgreSQL: admins manage scoped
// categories, agents their personal replies; each agent sees and searches only what is visible to them;
// CSV import is all or nothing with every bad row reported; export reads back into import.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

interface Reply {
  id: string;
  title: string;
  shortcut: string;
  content: string;
  imageUrl: string | null;
  categoryId: string | null;
  personal: boolean;
  position: number;
}
interface Category {
  id: string;
  name: string;
  position: number;
  scope: { kind: string; skillGroupIds: string[]; agentIds: string[] };
  replyCount: number;
}

const replyFields = 'id title shortcut content imageUrl categoryId personal position';
const categoryFields = 'id name position scope { kind skillGroupIds agentIds } replyCount';
const searchQuery = `query($search: String, $first: Int, $after: String) {
  quickReplies(search: $search, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { cursor node { ${replyFields} } } }
}`;

type Errors = { errors?: { message: string; extensions?: { code?: string; field?: string; rows?: { row: number; field: string; message: string }[] } }[] };
const errorOf = (r: Errors) => r.errors?.[0]?.extensions;

for (const database of ['pglite', 'postgres'] as const) {
  describe(`quick replies (${database})`, () => {
    let t: TestKefu;
    let s: Awaited<ReturnType<typeof seedInstance>>;
    let other: Awaited<ReturnType<typeof seedInstance>>;
    type Agent = Awaited<ReturnType<typeof seedInstance>>['agents'][0];
    let ann: Agent;
    let bob: Agent;
    let sue: Agent;
    let adminAgent: Agent;
    let billingGroup: string;
    const cats: Record<'everyone' | 'billing' | 'bobOnly', string> = { everyone: '', billing: '', bobOnly: '' };

    const search = async (token: string, searchText: string | null, first = 50, after: string | null = null) => {
      const r = await t.ok<{ quickReplies: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { cursor: string; node: Reply }[] } }>(token, searchQuery, {
        search: searchText,
        first,
        after,
      });
      return r.quickReplies;
    };
    const titles = async (token: string, searchText: string | null) => (await search(token, searchText)).edges.map((e) => e.node.title);
    const createCategory = (token: string, input: Record<string, unknown>) =>
      t.gql<{ createQuickReplyCategory: Category }>(token, `mutation($input: CreateQuickReplyCategoryInput!) { createQuickReplyCategory(input: $input) { ${categoryFields} } }`, { input });
    const createReply = (token: string, input: Record<string, unknown>) =>
      t.gql<{ createQuickReply: Reply }>(token, `mutation($input: CreateQuickReplyInput!) { createQuickReply(input: $input) { ${replyFields} } }`, { input });
    const importCsv = (token: string, csv: string, categoryId: string | null) =>
      t.gql<{ importQuickReplies: { imported: number } }>(token, 'mutation($input: ImportQuickRepliesInput!) { importQuickReplies(input: $input) { imported } }', {
        input: { categoryId, csv },
      });
    const exportCsv = (token: string, categoryId: string | null) => t.ok<{ exportQuickReplies: string }>(token, 'query($c: ID) { exportQuickReplies(categoryId: $c) }', { c: categoryId }).then((r) => r.exportQuickReplies);

    beforeAll(async () => {
      t = await startTestKefu({ database });
      s = await seedInstance(t, {
        agents: [
          { name: 'Ann', login: 'ann' },
          { name: 'Bob', login: 'bob' },
          { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
          { name: 'Ada', login: 'ada', role: 'ADMIN' },
        ],
      });
      [ann, bob, sue, adminAgent] = s.agents as [Agent, Agent, Agent, Agent];
      other = await seedInstance(t, { name: 'Other', agents: [{ name: 'Oz', login: 'oz' }] });
      const g = await t.ok<{ createSkillGroup: { id: string } }>(s.adminKey, 'mutation { createSkillGroup(input: { name: "Billing", channel: ONLINE }) { id } }');
      billingGroup = g.createSkillGroup.id;
      await t.ok(s.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: billingGroup, a: ann.id });
    }, 180_000);

    afterAll(async () => {
      await t?.close();
    });

    it('admins create categories scoped to everyone, skill groups or agents; others may not', async () => {
      const everyone = await createCategory(s.adminKey, { name: 'Greetings', scope: { kind: 'INSTANCE' } });
      expect(everyone.errors).toBeUndefined();
      expect(everyone.data!.createQuickReplyCategory).toMatchObject({ name: 'Greetings', position: 0, scope: { kind: 'INSTANCE', skillGroupIds: [], agentIds: [] }, replyCount: 0 });
      cats.everyone = everyone.data!.createQuickReplyCategory.id;
      const billing = await createCategory(adminAgent.token, { name: 'Billing', scope: { kind: 'SKILL_GROUPS', skillGroupIds: [billingGroup] } });
      expect(billing.errors).toBeUndefined();
      cats.billing = billing.data!.createQuickReplyCategory.id;
      const bobOnly = await createCategory(s.adminKey, { name: 'Bob only', scope: { kind: 'AGENTS', agentIds: [bob.id] } });
      cats.bobOnly = bobOnly.data!.createQuickReplyCategory.id;
      expect(bobOnly.data!.createQuickReplyCategory.position).toBe(2);

      expect(errorOf(await createCategory(ann.token, { name: 'Mine', scope: { kind: 'INSTANCE' } }))?.code).toBe('FORBIDDEN');
      expect(errorOf(await createCategory(sue.token, { name: 'Sue', scope: { kind: 'INSTANCE' } }))?.code).toBe('FORBIDDEN');
      expect(errorOf(await createCategory(s.adminKey, { name: 'greetings', scope: { kind: 'INSTANCE' } }))?.code).toBe('CONFLICT');
      expect(errorOf(await createCategory(s.adminKey, { name: '  ', scope: { kind: 'INSTANCE' } }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
      expect(errorOf(await createCategory(s.adminKey, { name: 'X', scope: { kind: 'SKILL_GROUPS', skillGroupIds: [] } }))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.scope.skillGroupIds',
      });
      // Another instance's agent is not one of ours.
      expect(errorOf(await createCategory(s.adminKey, { name: 'X', scope: { kind: 'AGENTS', agentIds: [other.agents[0]!.id] } }))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.scope.agentIds',
      });
    });

    it('admins add shared replies; agents add personal ones; field problems are named', async () => {
      const add = async (token: string, input: Record<string, unknown>) => {
        const r = await createReply(token, input);
        expect(r.errors).toBeUndefined();
        return r.data!.createQuickReply;
      };
      const hello = await add(s.adminKey, { categoryId: cats.everyone, title: 'Hello', shortcut: '/hello', content: 'Hello, how can I help you today?' });
      expect(hello).toMatchObject({ categoryId: cats.everyone, personal: false, position: 0, imageUrl: null });
      await add(s.adminKey, { categoryId: cats.everyone, title: 'Goodbye', shortcut: 'bye', content: 'Thank you for contacting us. Goodbye!', imageUrl: 'https://example.com/wave.png' });
      await add(s.adminKey, { categoryId: cats.everyone, title: '退款说明', shortcut: 'tk', content: '您好，退款流程需要三个工作日。' });
      await add(adminAgent.token, { categoryId: cats.billing, title: 'Refund process', shortcut: '/refund', content: 'Refunds take three working days to reach your card.' });
      await add(s.adminKey, { categoryId: cats.bobOnly, title: 'Escalation', shortcut: 'esc', content: 'I will escalate this to my supervisor.' });
      const mine = await add(ann.token, { title: 'Ann personal', shortcut: 'annp', content: 'Regards, Ann from the refund team' });
      expect(mine).toMatchObject({ categoryId: null, personal: true });
      await add(bob.token, { title: 'Bob personal', shortcut: 'bobp', content: 'Regards, Bob' });

      expect(errorOf(await createReply(ann.token, { categoryId: cats.everyone, title: 'x', shortcut: 'x', content: 'x' }))?.code).toBe('FORBIDDEN');
      expect(errorOf(await createReply(s.adminKey, { title: 'x', shortcut: 'x', content: 'x' }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.categoryId' });
      expect(errorOf(await createReply(s.adminKey, { categoryId: cats.everyone, title: 'x', shortcut: 'HELLO', content: 'x' }))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.shortcut',
      });
      expect(errorOf(await createReply(ann.token, { title: 'x', shortcut: 'has space', content: 'x' }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.shortcut' });
      expect(errorOf(await createReply(ann.token, { title: 'x', shortcut: 'x', content: '' }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.content' });
      expect(errorOf(await createReply(ann.token, { title: 'x', shortcut: 'x', content: 'x', imageUrl: 'javascript:alert(1)' }))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.imageUrl',
      });
      expect(errorOf(await createReply(other.adminKey, { categoryId: cats.everyone, title: 'x', shortcut: 'x', content: 'x' }))?.code).toBe('NOT_FOUND');
    });

    it('an agent sees only their personal replies and the categories scoped to them', async () => {
      // Ann: everyone, billing (her group), her own; not Bob's category, not Bob's personal reply.
      expect((await titles(ann.token, null)).sort()).toEqual(['Ann personal', 'Goodbye', 'Hello', 'Refund process', '退款说明'].sort());
      // Bob: everyone, Bob only, his own; not billing (not a member), not Ann's.
      expect((await titles(bob.token, null)).sort()).toEqual(['Bob personal', 'Escalation', 'Goodbye', 'Hello', '退款说明'].sort());
      // Panel order: personal first, then categories in order.
      expect(await titles(ann.token, null)).toEqual(['Ann personal', 'Hello', 'Goodbye', '退款说明', 'Refund process']);
      // Searching does not reach past the scope either.
      expect(await titles(bob.token, 'refund')).toEqual([]);
      expect(await titles(bob.token, 'ann')).toEqual([]);
      expect(await titles(ann.token, 'esc')).toEqual([]);
      // An admin agent searches as an agent (scope applies); in the category list they see every category.
      expect((await titles(adminAgent.token, null)).sort()).toEqual(['Goodbye', 'Hello', '退款说明'].sort());
      const all = await t.ok<{ quickReplyCategories: Category[] }>(adminAgent.token, `{ quickReplyCategories { ${categoryFields} } }`);
      expect(all.quickReplyCategories.map((c) => c.name)).toEqual(['Greetings', 'Billing', 'Bob only']);
      const annCats = await t.ok<{ quickReplyCategories: Category[] }>(ann.token, `{ quickReplyCategories { name replyCount } }`);
      expect(annCats.quickReplyCategories).toEqual([
        { name: 'Greetings', replyCount: 3 },
        { name: 'Billing', replyCount: 1 },
      ]);
      // Leaving the group takes the category away.
      await t.ok(s.adminKey, 'mutation($g: ID!, $a: ID!) { removeSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: billingGroup, a: ann.id });
      expect(await titles(ann.token, 'refund')).toEqual(['Ann personal']);
      await t.ok(s.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: billingGroup, a: ann.id });
      // Another agent's personal reply cannot be changed or deleted: NOT_FOUND, as if it did not exist.
      const bobs = (await search(bob.token, 'bobp')).edges[0]!.node;
      const change = await t.gql(ann.token, 'mutation($id: ID!) { updateQuickReply(input: { id: $id, title: "mine now" }) { id } }', { id: bobs.id });
      expect(errorOf(change)?.code).toBe('NOT_FOUND');
      const del = await t.gql(ann.token, 'mutation($id: ID!) { deleteQuickReply(input: { id: $id }) { id } }', { id: bobs.id });
      expect(errorOf(del)?.code).toBe('NOT_FOUND');
      // Another instance sees nothing of ours.
      expect(await titles(other.agents[0]!.token, null)).toEqual([]);
    });

    it('searches by shortcut prefix first, then by words of title and content, as the agent types', async () => {
      expect(await titles(ann.token, '/')).toHaveLength(5);
      // Each prefix of "refund" as typed: the shortcut /refund first, then Ann's reply with the word "refund".
      for (const typed of ['r', 're', 'ref', 'refu', 'refun', 'refund']) {
        expect(await titles(ann.token, typed), typed).toEqual(['Refund process', 'Ann personal']);
      }
      expect(await titles(ann.token, '/REF')).toEqual(['Refund process', 'Ann personal']);
      // Words of the title and the content, every word searched must match (as prefixes).
      expect(await titles(ann.token, 'working')).toEqual(['Refund process']);
      expect(await titles(ann.token, 'thank good')).toEqual(['Goodbye']);
      expect(await titles(ann.token, 'thank hello')).toEqual([]);
      expect(await titles(ann.token, 'HELP')).toEqual(['Hello']);
      // Chinese text has no spaces: any part of it is found.
      expect(await titles(ann.token, '退款')).toEqual(['退款说明']);
      expect(await titles(ann.token, '流程')).toEqual(['退款说明']);
      expect(await titles(ann.token, '工作日')).toEqual(['退款说明']);
      // Characters that mean something to LIKE or tsquery are just text.
      expect(await titles(ann.token, "%_'\\:*&|!")).toEqual([]);
      expect(await titles(ann.token, 'nothing-like-this')).toEqual([]);
      // Pages: a cursor goes on where the page ended, across the shortcut and word phases.
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await search(ann.token, 're', 1, after);
        seen.push(...page.edges.map((e) => e.node.title));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(seen).toEqual(['Refund process', 'Ann personal']);
      const bad = await t.gql(ann.token, searchQuery, { search: 'x', after: 'not-a-cursor' });
      expect(errorOf(bad)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
      const tooMany = await t.gql(ann.token, searchQuery, { search: 'x', first: 500 });
      expect(errorOf(tooMany)?.code).toBe('BAD_USER_INPUT');
      const anonymous = await t.gql(null, searchQuery, { search: 'x' });
      expect(errorOf(anonymous)?.code).toBe('UNAUTHENTICATED');
    });

    it('updates and deletes replies; the search follows', async () => {
      const hello = (await search(ann.token, '/hello')).edges[0]!.node;
      const changed = await t.gql<{ updateQuickReply: Reply }>(
        s.adminKey,
        `mutation($id: ID!) { updateQuickReply(input: { id: $id, title: "Welcome", content: "Welcome aboard, what can I do for you?" }) { ${replyFields} } }`,
        { id: hello.id },
      );
      expect(changed.errors).toBeUndefined();
      expect(changed.data!.updateQuickReply).toMatchObject({ title: 'Welcome', shortcut: '/hello', imageUrl: null });
      expect(await titles(ann.token, 'aboard')).toEqual(['Welcome']);
      expect(await titles(ann.token, 'help')).toEqual([]);
      // Agents may not change shared replies.
      const byAnn = await t.gql(ann.token, 'mutation($id: ID!) { updateQuickReply(input: { id: $id, title: "x" }) { id } }', { id: hello.id });
      expect(errorOf(byAnn)?.code).toBe('FORBIDDEN');
      // A shortcut taken in the same list is refused.
      const taken = await t.gql(s.adminKey, 'mutation($id: ID!) { updateQuickReply(input: { id: $id, shortcut: "BYE" }) { id } }', { id: hello.id });
      expect(errorOf(taken)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.shortcut' });
      // Ann's own reply: she changes the image and deletes it.
      const mine = (await search(ann.token, 'annp')).edges[0]!.node;
      const img = await t.ok<{ updateQuickReply: Reply }>(ann.token, `mutation($id: ID!) { updateQuickReply(input: { id: $id, imageUrl: "https://example.com/a.png" }) { ${replyFields} } }`, {
        id: mine.id,
      });
      expect(img.updateQuickReply.imageUrl).toBe('https://example.com/a.png');
      const cleared = await t.ok<{ updateQuickReply: Reply }>(ann.token, `mutation($id: ID!) { updateQuickReply(input: { id: $id, imageUrl: null }) { ${replyFields} } }`, { id: mine.id });
      expect(cleared.updateQuickReply).toMatchObject({ imageUrl: null, title: 'Ann personal' });
      await t.ok(ann.token, 'mutation($id: ID!) { deleteQuickReply(input: { id: $id }) { id } }', { id: mine.id });
      expect(await titles(ann.token, 'annp')).toEqual([]);
      const again = await t.gql(ann.token, 'mutation($id: ID!) { deleteQuickReply(input: { id: $id }) { id } }', { id: mine.id });
      expect(errorOf(again)?.code).toBe('NOT_FOUND');
    });

    it('reorders categories and replies; the panel follows', async () => {
      const reordered = await t.ok<{ reorderQuickReplyCategories: Category[] }>(
        s.adminKey,
        `mutation($ids: [ID!]!) { reorderQuickReplyCategories(input: { categoryIds: $ids }) { ${categoryFields} } }`,
        { ids: [cats.billing, cats.everyone, cats.bobOnly] },
      );
      expect(reordered.reorderQuickReplyCategories.map((c) => [c.name, c.position])).toEqual([
        ['Billing', 0],
        ['Greetings', 1],
        ['Bob only', 2],
      ]);
      expect(await titles(ann.token, null)).toEqual(['Refund process', 'Welcome', 'Goodbye', '退款说明']);
      const partial = await t.gql(s.adminKey, 'mutation($ids: [ID!]!) { reorderQuickReplyCategories(input: { categoryIds: $ids }) { id } }', { ids: [cats.billing] });
      expect(errorOf(partial)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.categoryIds' });
      const ids = (await search(ann.token, null)).edges.filter((e) => e.node.categoryId === cats.everyone).map((e) => e.node.id);
      const replies = await t.ok<{ reorderQuickReplies: Reply[] }>(
        s.adminKey,
        `mutation($c: ID, $ids: [ID!]!) { reorderQuickReplies(input: { categoryId: $c, replyIds: $ids }) { ${replyFields} } }`,
        { c: cats.everyone, ids: [...ids].reverse() },
      );
      expect(replies.reorderQuickReplies.map((r) => [r.title, r.position])).toEqual([
        ['退款说明', 0],
        ['Goodbye', 1],
        ['Welcome', 2],
      ]);
      expect(await titles(ann.token, null)).toEqual(['Refund process', '退款说明', 'Goodbye', 'Welcome']);
      const byAgent = await t.gql(ann.token, 'mutation($c: ID, $ids: [ID!]!) { reorderQuickReplies(input: { categoryId: $c, replyIds: $ids }) { id } }', { c: cats.everyone, ids });
      expect(errorOf(byAgent)?.code).toBe('FORBIDDEN');
    });

    it('imports a CSV all or nothing, reporting every bad row, and exports it back', async () => {
      const header = 'title,shortcut,content,imageUrl\r\n';
      const bad = await importCsv(
        bob.token,
        header +
          'Ok one,ok1,Fine text,\r\n' +
          ',ok2,No title,\r\n' + // row 3: title empty
          'Bad url,ok3,Text,ftp://x\r\n' + // row 4: imageUrl
          'Dup,OK1,Same shortcut as row 2,\r\n' + // row 5: shortcut twice
          'Taken,bobp,Bob already has it,\r\n', // row 6: shortcut taken in his list
        null,
      );
      const e = errorOf(bad);
      expect(e?.code).toBe('BAD_USER_INPUT');
      expect(e?.field).toBe('input.csv');
      expect(e?.rows).toEqual([
        { row: 3, field: 'title', message: expect.any(String) },
        { row: 4, field: 'imageUrl', message: expect.any(String) },
        { row: 5, field: 'shortcut', message: expect.stringContaining('row 2') },
        { row: 6, field: 'shortcut', message: expect.stringContaining('already used') },
      ]);
      expect(await titles(bob.token, 'ok')).toEqual([]); // nothing imported, not even row 2
      const headerless = await importCsv(bob.token, 'name,text\nx,y\n', null);
      expect(errorOf(headerless)?.rows?.map((r) => [r.row, r.field])).toEqual([
        [1, 'name'],
        [1, 'text'],
        [1, 'title'],
        [1, 'shortcut'],
        [1, 'content'],
      ]);
      expect(errorOf(await importCsv(bob.token, 'title,shortcut,content\n"unclosed,x,y\n', null))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.csv' });

      // A good file: quotes, commas, new lines, CJK, a formula-looking cell; into Bob's personal list.
      const good =
        '\uFEFFtitle,shortcut,content,imageUrl\r\n' +
        '"Opening hours",hours,"We are open 9:00-18:00, Monday to Friday.\nSee you soon.",\r\n' +
        '"Total",sum,"=SUM(A1:A3)",https://example.com/sum.png\r\n' +
        '营业时间,yy,我们的营业时间是周一至周五。,\r\n';
      const ok = await importCsv(bob.token, good, null);
      expect(ok.errors).toBeUndefined();
      expect(ok.data!.importQuickReplies.imported).toBe(3);
      // The same file again (a retry) adds nothing.
      expect((await importCsv(bob.token, good, null)).data!.importQuickReplies.imported).toBe(0);
      expect(await titles(bob.token, 'monday')).toEqual(['Opening hours']);
      expect(await titles(bob.token, '周一')).toEqual(['营业时间']);
      expect(await titles(ann.token, 'monday')).toEqual([]); // Bob's personal replies stay his

      const csv = await exportCsv(bob.token, null);
      expect(csv.startsWith('\uFEFFtitle,shortcut,content,imageUrl\r\n')).toBe(true);
      expect(csv).toContain('Bob personal,bobp,"Regards, Bob",\r\n');
      expect(csv).toContain(`Total,sum,'=SUM(A1:A3),https://example.com/sum.png\r\n`);
      expect(csv).toContain('"We are open 9:00-18:00, Monday to Friday.\nSee you soon."');
      // What was exported imports back the same into another list (formula escaping undone).
      const copy = await createCategory(s.adminKey, { name: 'Copy', scope: { kind: 'AGENTS', agentIds: [ann.id] } });
      const copyId = copy.data!.createQuickReplyCategory.id;
      const back = await importCsv(s.adminKey, csv, copyId);
      expect(back.data!.importQuickReplies.imported).toBe(4);
      const exported = await exportCsv(s.adminKey, copyId);
      expect(exported).toBe(csv);
      const total = (await search(ann.token, 'total')).edges.map((x) => x.node);
      expect(total).toMatchObject([{ title: 'Total', content: '=SUM(A1:A3)', imageUrl: 'https://example.com/sum.png', categoryId: copyId }]);
      // Agents import only into their own list, and export only theirs.
      expect(errorOf(await importCsv(ann.token, good, copyId))?.code).toBe('FORBIDDEN');
      expect(errorOf(await t.gql(ann.token, 'query($c: ID) { exportQuickReplies(categoryId: $c) }', { c: copyId }))?.code).toBe('FORBIDDEN');
    });

    it('deleting a category removes its replies from every search', async () => {
      const deleted = await t.ok<{ deleteQuickReplyCategory: Category }>(s.adminKey, 'mutation($id: ID!) { deleteQuickReplyCategory(input: { id: $id }) { id name } }', {
        id: cats.billing,
      });
      expect(deleted.deleteQuickReplyCategory.name).toBe('Billing');
      expect(await titles(ann.token, 'refund')).toEqual([]);
      const addTo = await createReply(s.adminKey, { categoryId: cats.billing, title: 'x', shortcut: 'x', content: 'x' });
      expect(errorOf(addTo)?.code).toBe('NOT_FOUND');
      const cats2 = await t.ok<{ quickReplyCategories: Category[] }>(s.adminKey, `{ quickReplyCategories { ${categoryFields} } }`);
      expect(cats2.quickReplyCategories.map((c) => c.name)).toEqual(['Greetings', 'Bob only', 'Copy']);
    });
  });
}

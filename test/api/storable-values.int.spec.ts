// Property tests of the value definitions (src/domain/values.ts) against the real databases (issue 9,
// item 9): every value a definition accepts goes through the API, the event store and the read models and
// comes back unchanged; every value it refuses is BAD_USER_INPUT naming the field. Random strings mix in
// NUL, unpaired surrogates, astral characters, white space and over-long text; dates span all of
// JavaScript's range. The seed is printed; KEFU_FUZZ_SEED=<seed> replays a run.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cursorPosition, customerIdentity, isStorableText, dataKey, dataValue, dateTimeText, expiry, latestExpiry, messageText, name, reason } from '../../src/domain/values.ts';
import { seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const seed = Number(process.env.KEFU_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const numRuns = Number(process.env.KEFU_FUZZ_RUNS ?? 25);

/** Strings that probe the edges: any code unit (lone surrogates, NUL), astral characters, padding, length. */
const probingText = (maxLength: number) =>
  fc.oneof(
    { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength }), weight: 3 },
    fc.string({ unit: 'binary', maxLength }),
    fc
      .array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.constantFrom('\u0000', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '😀', '𝄞', ' ', '\t', '\n', '客服', '\u200B', '\uFEFF', '"', "'", '\\', '%', '_')), { maxLength: 40 })
      .map((parts) => parts.join('')),
    fc.constantFrom('', ' ', 'a'.repeat(maxLength), 'a'.repeat(maxLength + 1), `${'a'.repeat(maxLength - 1)}😀`),
  );

/** Dates across all of JavaScript's range, dense near now and near the edges of what the stores hold. */
const anyInstant = fc.oneof(
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }),
  fc.date({ min: new Date('0000-12-31T00:00:00Z'), max: new Date('0001-01-02T00:00:00Z'), noInvalidDate: true }),
  fc.date({ min: new Date('9999-12-30T00:00:00Z'), max: new Date('+010000-01-02T00:00:00Z'), noInvalidDate: true }),
  fc.integer({ min: -200, max: 200 }).map((years) => new Date(Date.now() + years * 365.25 * 86_400_000)),
);

/** Date strings as clients might send them: JavaScript's form, other offsets, loose forms, junk. */
const anyDateTimeText = fc.oneof(
  anyInstant.map((d) => d.toISOString()),
  fc.tuple(anyInstant, fc.integer({ min: -14, max: 14 })).map(([d, h]) => {
    // The local time at JavaScript's own edges (±8.64e15 ms) may not exist: then the instant as it is, in UTC.
    const shifted = d.getTime() + h * 3_600_000;
    if (Math.abs(shifted) > 8.64e15) return d.toISOString();
    const local = new Date(shifted).toISOString();
    return local.replace('Z', `${h < 0 ? '-' : '+'}${String(Math.abs(h)).padStart(2, '0')}:00`);
  }),
  anyInstant.map((d) => d.toString()),
  anyInstant.map((d) => d.toISOString().slice(0, 10)),
  fc.constantFrom('1', 'tomorrow', '2030-02-30T00:00:00Z', '2030-13-01T00:00:00Z', '0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z', ''),
  fc.string({ maxLength: 30 }),
);

/** Future expiries a blacklist takes, and its edges. */
const likelyExpiry = fc.oneof(
  { arbitrary: fc.integer({ min: 60, max: 99 * 365 * 86_400 }).map((seconds) => new Date(Date.now() + seconds * 1000).toISOString()), weight: 3 },
  anyDateTimeText,
);

function runOptions() {
  return { seed, numRuns, endOnFailure: true, interruptAfterTimeLimit: 20_000 };
}

const fieldOf = (r: GqlResult<unknown>) => r.errors?.map((e) => ({ code: e.extensions?.code, field: e.extensions?.field }));

for (const database of ['pglite', 'postgres'] as const) {
  describe(`stored values round-trip, refused ones are BAD_USER_INPUT (${database})`, () => {
    let t: TestKefu;
    let s: Awaited<ReturnType<typeof seedInstance>>;
    let integrationKey: string;
    let chatGroupId: string;
    let queueGroupId: string;
    let chatId: string;
    let n = 0;

    beforeAll(async () => {
      console.log(`storable values (${database}) seed ${seed} (replay with KEFU_FUZZ_SEED=${seed})`);
      const started = Date.now();
      t = await startTestKefu({ database });
      s = await seedInstance(t, { name: 'Values', seats: 1000, agents: [{ name: 'Ann', login: 'ann' }] });
      integrationKey = (await t.ok<{ createApiKey: { secret: string } }>(s.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }')).createApiKey.secret;
      const chat = await t.ok<{ createSkillGroup: { id: string } }>(s.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE, autoAccept: true, strategy: SATURATION, maxConcurrency: 5 }) { id } }');
      chatGroupId = chat.createSkillGroup.id;
      // Nobody serves this one: its contacts wait in the queue.
      const queue = await t.ok<{ createSkillGroup: { id: string } }>(s.adminKey, 'mutation { createSkillGroup(input: { name: "Queue", channel: ONLINE }) { id } }');
      queueGroupId = queue.createSkillGroup.id;
      await t.ok(s.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: chatGroupId, a: s.agents[0]!.id });
      await t.ok(s.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      const c = await t.ok<{ createContact: { id: string } }>(integrationKey, 'mutation($g: ID!) { createContact(input: { channel: ONLINE, customer: { kind: WEB, id: "visitor" }, skillGroupId: $g }) { id } }', { g: chatGroupId });
      chatId = c.createContact.id;
      await until(
        () => t.ok<{ contact: { status: string } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { status } }', { id: chatId }),
        (r) => r.contact.status === 'CONNECTED',
        60_000,
      );
      console.log(`storable values (${database}): set up in ${Date.now() - started} ms`);
    });
    afterAll(async () => t?.close());

    it('agent names', async () => {
      let stored = 0;
      const agentId = s.agents[0]!.id;
      let current = 'Ann';
      await fc.assert(
        fc.asyncProperty(probingText(210), async (raw) => {
          const r = await t.gql<{ updateAgent: { name: string } }>(s.adminKey, 'mutation($id: ID!, $n: String) { updateAgent(input: { id: $id, name: $n }) { name } }', { id: agentId, n: raw });
          const expected = name.safeParse(raw);
          if (!expected.success) {
            expect(fieldOf(r)).toEqual([{ code: 'BAD_USER_INPUT', field: 'input.name' }]);
            return;
          }
          expect(r.errors).toBeUndefined();
          stored++;
          expect(r.data!.updateAgent.name).toBe(expected.data);
          if (expected.data !== current) {
            const [last] = await t.kefu.store.readStream(`agent-${s.instanceId}.${agentId}`, { direction: 'backwards', maxCount: 1 });
            expect(last).toMatchObject({ type: 'AgentUpdated', data: { name: expected.data } });
          }
          current = expected.data;
          const read = await t.ok<{ agent: { name: string } }>(s.adminKey, 'query($id: ID!) { agent(id: $id) { name } }', { id: agentId });
          expect(read.agent.name).toBe(expected.data);
        }),
        runOptions(),
      );
      expect(stored, 'some values were accepted and stored').toBeGreaterThan(0);
    });

    it('blacklist reasons and expiries', async () => {
      let stored = 0;
      await fc.assert(
        fc.asyncProperty(probingText(210), likelyExpiry, async (rawReason, rawExpiry) => {
          const identity = `+86139${String(n++).padStart(8, '0')}`;
          const r = await t.gql<{ addToBlacklist: { id: string; reason: string; expiresAt: string } }>(
            s.adminKey,
            'mutation($input: AddToBlacklistInput!) { addToBlacklist(input: $input) { id reason expiresAt } }',
            { input: { channel: 'PHONE', identity, reason: rawReason, expiresAt: rawExpiry } },
          );
          const now = new Date();
          const parsedReason = reason.safeParse(rawReason);
          const parsedDate = dateTimeText.safeParse(rawExpiry);
          const parsedExpiry = parsedDate.success ? expiry(now).safeParse(parsedDate.data) : parsedDate;
          if (!parsedDate.success) {
            // The scalar refuses it before any resolver runs.
            expect(fieldOf(r)).toEqual([{ code: 'BAD_USER_INPUT', field: 'input.expiresAt' }]);
            return;
          }
          if (!parsedReason.success) {
            expect(fieldOf(r)).toEqual([{ code: 'BAD_USER_INPUT', field: 'input.reason' }]);
            return;
          }
          // Past expiries are the decider's refusal, the 100-year bound is values.ts's; the server's now is a
          // little apart from this one, so dates right at either edge may go either way.
          const t0 = parsedDate.data.getTime();
          const nearEdge = Math.abs(t0 - now.getTime()) < 120_000 || Math.abs(t0 - latestExpiry(now).getTime()) < 120_000;
          if (nearEdge) return;
          if (!parsedExpiry.success || t0 <= now.getTime()) {
            expect(fieldOf(r)).toEqual([{ code: 'BAD_USER_INPUT', field: 'input.expiresAt' }]);
            return;
          }
          expect(r.errors).toBeUndefined();
          stored++;
          const expiresAt = parsedDate.data.toISOString();
          expect(r.data!.addToBlacklist).toMatchObject({ reason: parsedReason.data, expiresAt });
          const events = await t.kefu.store.readStream(`blacklist-${s.instanceId}`, { direction: 'backwards', maxCount: 1 });
          expect(events[0]!.data).toMatchObject({ entryId: r.data!.addToBlacklist.id, reason: parsedReason.data, expiresAt });
          const list = await t.ok<{ blacklist: { edges: { node: { id: string; reason: string; expiresAt: string } }[] } }>(s.adminKey, '{ blacklist(first: 1) { edges { node { id reason expiresAt } } } }');
          expect(list.blacklist.edges[0]!.node).toEqual({ id: r.data!.addToBlacklist.id, reason: parsedReason.data, expiresAt });
        }),
        runOptions(),
      );
      expect(stored, 'some values were accepted and stored').toBeGreaterThan(0);
    });

    it('chat messages', async () => {
      let stored = 0;
      await fc.assert(
        fc.asyncProperty(probingText(5010), async (raw) => {
          const r = await t.gql<{ sendMessage: { id: string; text: string } }>(integrationKey, 'mutation($c: ID!, $t: String!) { sendMessage(input: { contactId: $c, text: $t }) { id text } }', { c: chatId, t: raw });
          const expected = messageText.safeParse(raw);
          if (!expected.success) {
            expect(fieldOf(r)).toEqual([{ code: 'BAD_USER_INPUT', field: 'input.text' }]);
            return;
          }
          expect(r.errors).toBeUndefined();
          stored++;
          expect(r.data!.sendMessage.text).toBe(raw);
          const [last] = await t.kefu.store.readStream(`contact-${s.instanceId}.${chatId}`, { direction: 'backwards', maxCount: 1 });
          expect(last!.data).toMatchObject({ messageId: r.data!.sendMessage.id, text: raw });
          const read = await t.ok<{ contact: { messages: { id: string; text: string }[] } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { messages { id text } } }', { id: chatId });
          expect(read.contact.messages.at(-1)).toEqual({ id: r.data!.sendMessage.id, text: raw });
        }),
        { ...runOptions(), numRuns: Math.ceil(numRuns / 2) },
      );
      expect(stored, 'some values were accepted and stored').toBeGreaterThan(0);
    });

    it('customer identities, names and data', async () => {
      let stored = 0;
      const entry = fc.record({ key: probingText(70), value: probingText(2010) });
      await fc.assert(
        fc.asyncProperty(probingText(135), probingText(210), fc.array(entry, { maxLength: 4 }), async (rawId, rawName, rawData) => {
          const r = await t.gql<{ createContact: { id: string } }>(
            integrationKey,
            'mutation($input: CreateContactInput!) { createContact(input: $input) { id } }',
            { input: { channel: 'ONLINE', customer: { kind: 'WEB', id: rawId, name: rawName }, skillGroupId: queueGroupId, data: rawData } },
          );
          const id = customerIdentity.safeParse(rawId);
          const nm = name.safeParse(rawName);
          const keys = rawData.map((d) => dataKey.safeParse(d.key));
          const values = rawData.map((d) => dataValue.safeParse(d.value));
          // Unstorable characters anywhere are refused first (every argument is checked before the resolver's
          // schema), then the schema's first problem.
          const fieldsInOrder: [string, string, boolean][] = [
            ['input.customer.id', rawId, id.success],
            ['input.customer.name', rawName, nm.success],
            ...rawData.flatMap((d, i): [string, string, boolean][] => [
              [`input.data.${i}.key`, d.key, keys[i]!.success],
              [`input.data.${i}.value`, d.value, values[i]!.success],
            ]),
          ];
          const firstBad = (fieldsInOrder.find(([, raw]) => !isStorableText(raw)) ?? fieldsInOrder.find(([, , ok]) => !ok))?.[0];
          if (firstBad) {
            expect(fieldOf(r)).toEqual([{ code: 'BAD_USER_INPUT', field: firstBad }]);
            return;
          }
          expect(r.errors).toBeUndefined();
          stored++;
          const contactId = r.data!.createContact.id;
          // Later entries win for a repeated key, as in an object.
          const data = Object.fromEntries(rawData.map((_, i) => [keys[i]!.data!, values[i]!.data!]));
          const [created] = await t.kefu.store.readStream(`contact-${s.instanceId}.${contactId}`, { maxCount: 1 });
          expect(created!.data).toMatchObject({ customer: { id: id.data, name: nm.data }, data });
          const read = await t.ok<{ contact: { customer: { id: string; name: string }; data: { key: string; value: string }[] } }>(
            s.adminKey,
            'query($id: ID!) { contact(id: $id) { customer { id name } data { key value } } }',
            { id: contactId },
          );
          expect(read.contact.customer).toEqual({ id: id.data, name: nm.data });
          expect(Object.fromEntries(read.contact.data.map((d) => [d.key, d.value]))).toEqual(data);
        }),
        runOptions(),
      );
      expect(stored, 'some values were accepted and stored').toBeGreaterThan(0);
    });

    it('DateTime filters and page cursors', async () => {
      await fc.assert(
        fc.asyncProperty(
          anyDateTimeText,
          fc.oneof(
            fc.tuple(anyDateTimeText, fc.oneof(fc.uuid(), probingText(40))).map((c) => Buffer.from(JSON.stringify(c)).toString('base64url')),
            probingText(60),
          ),
          async (rawFrom, cursor) => {
            const r = await t.gql(s.adminKey, 'query($from: DateTime) { callRecords(filter: { from: $from }) { pageInfo { hasNextPage } } }', { from: rawFrom });
            if (dateTimeText.safeParse(rawFrom).success) expect(r.errors).toBeUndefined();
            else expect(fieldOf(r)).toEqual([{ code: 'BAD_USER_INPUT', field: 'filter.from' }]);
            let decoded: unknown = null;
            try {
              decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
            } catch {
              // not a cursor
            }
            for (const q of ['query($c: String) { agents(after: $c) { totalCount } }', 'query($c: String) { contacts(after: $c) { edges { cursor } } }', 'query($c: String) { blacklist(after: $c) { totalCount } }', 'query($c: String) { callRecords(after: $c) { pageInfo { hasNextPage } } }']) {
              const page = await t.gql(s.adminKey, q, { c: cursor });
              // An empty cursor is no cursor: the first page.
              if (cursor === '' || (cursor.length <= 500 && cursorPosition.safeParse(decoded).success)) expect(page.errors, q).toBeUndefined();
              else expect(fieldOf(page), `${q} ${cursor}`).toEqual([{ code: 'BAD_USER_INPUT', field: 'after' }]);
            }
          },
        ),
        runOptions(),
      );
    });
  });
}

// Satisfaction surveys (issue 12) through the public API: the admin's scale and switches; a chat customer
// sees the scale on their session and rates their own ended chat once (twice: CONFLICT; off the scale:
// BAD_USER_INPUT naming the field; before the end or with chat surveys off: CONFLICT; another customer's chat:
// NOT_FOUND); chat and call records show the rating, label and comment and filter on it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { defaultSatisfactionSurvey } from '../../src/domain/instance/satisfaction.ts';
import { streams } from '../../src/domain/streams.ts';
import { codeOf, fromPage } from '../support/chat.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const origin = 'https://shop.example';
const SURVEY = 'scale { value label } channels { online phone av }';
const CONVERSATION = 'contactId status endStatus ratable rating { value label comment ratedAt }';
const RATE = `mutation($input: RateChatInput!) { rateChat(input: $input) { ${CONVERSATION} } }`;

interface Rating {
  value: number;
  label: string;
  comment: string | null;
  ratedAt: string | null;
}

for (const database of ['pglite', 'postgres'] as const) {
  describe(`satisfaction surveys (${database})`, () => {
    let t: TestKefu;
    let s: Awaited<ReturnType<typeof seedInstance>>;
    let channelKey: string;
    const ann = () => s.agents[0]!;
    const { gql, ok, startChat } = fromPage(() => t, origin);

    async function customer(name: string) {
      return (
        await ok<{ startCustomerSession: { token: string; webChannel: { survey: { enabled: boolean; scale: { value: number; label: string }[] } } } }>(
          null,
          'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token webChannel { survey { enabled scale { value label } } } } }',
          { input: { channelKey, name } },
        )
      ).startCustomerSession;
    }
    /** Ann takes the chat (offered by the router) and ends it. */
    async function served(token: string): Promise<string> {
      const contactId = await startChat(token);
      const offered = await until(
        () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(ann().token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }).catch(() => null),
        (r) => r?.contact.status === 'OFFERED',
        60_000,
      );
      await t.ok(ann().token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
      await t.ok(ann().token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: contactId });
      return contactId;
    }
    const rate = (token: string, contactId: string, value: number, comment?: string) => gql<{ rateChat: { ratable: boolean; rating: Rating | null } }>(token, RATE, { input: { contactId, value, ...(comment !== undefined ? { comment } : {}) } });
    const configure = (input: Record<string, unknown>) =>
      ok<{ configureSatisfactionSurvey: { scale: { value: number; label: string }[]; channels: Record<string, boolean> } }>(
        s.adminKey,
        `mutation($input: ConfigureSatisfactionSurveyInput!) { configureSatisfactionSurvey(input: $input) { ${SURVEY} } }`,
        { input },
      );
    const chatRecords = async (filter: Record<string, unknown>) =>
      (await t.ok<{ chatRecords: { edges: { node: { contactId: string; satisfaction: Rating | null } }[] } }>(
        s.adminKey,
        'query($f: ChatRecordFilter) { chatRecords(first: 200, filter: $f) { edges { node { contactId satisfaction { value label comment ratedAt } } } } }',
        { f: filter },
      )).chatRecords.edges.map((e) => e.node);

    beforeAll(async () => {
      t = await startTestKefu({ database, env: { KEFU_CHAT_LIMIT_CHAT: '1000/3600', KEFU_CHAT_LIMIT_SESSION: '1000/3600' } });
      s = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
      const group = (
        await t.ok<{ createSkillGroup: { id: string } }>(s.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
          input: { name: 'Chat', channel: 'ONLINE', maxConcurrency: 10 },
        })
      ).createSkillGroup.id;
      await t.ok(s.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann().id });
      await t.ok(ann().token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      channelKey = (
        await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(s.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
          input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group },
        })
      ).createWebChannel.webChannel.publicKey;
    }, 180_000);

    afterAll(async () => {
      await t?.close();
    });

    it('the default survey: five labelled stars, chats asked; only admins change it', async () => {
      const read = await t.ok<{ satisfactionSurvey: unknown }>(ann().token, `query { satisfactionSurvey { ${SURVEY} } }`);
      expect(read.satisfactionSurvey).toEqual({ scale: defaultSatisfactionSurvey.scale, channels: { online: true, phone: false, av: true } });
      const me = await customer('Default');
      expect(me.webChannel.survey).toEqual({ enabled: true, scale: defaultSatisfactionSurvey.scale });
      const refused = await t.gql(ann().token, 'mutation { configureSatisfactionSurvey(input: { channels: { phone: true } }) { channels { phone } } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });

    it('bad scales are refused naming the field, and change nothing', async () => {
      const bad = async (scale: unknown, field: RegExp) => {
        const r = await t.gql(s.adminKey, `mutation($input: ConfigureSatisfactionSurveyInput!) { configureSatisfactionSurvey(input: $input) { ${SURVEY} } }`, { input: { scale } });
        expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
        expect(r.errors?.[0]?.extensions?.field).toMatch(field);
      };
      await bad([{ value: 1, label: 'Only' }], /^input\.scale$/);
      await bad([{ value: 1, label: 'A' }, { value: 1, label: 'B' }], /^input\.scale\.1\.value$/);
      await bad([{ value: 1, label: 'A' }, { value: 12, label: 'B' }], /^input\.scale\.1\.value$/);
      await bad([{ value: 1, label: 'A' }, { value: 2, label: '' }], /^input\.scale\.1\.label$/);
      const read = await t.ok<{ satisfactionSurvey: { scale: unknown } }>(s.adminKey, `query { satisfactionSurvey { ${SURVEY} } }`);
      expect(read.satisfactionSurvey.scale).toEqual(defaultSatisfactionSurvey.scale);
    });

    it('a customer rates their ended chat once, on the scale; the chat record shows it and filters on it', async () => {
      const me = await customer('Rater');
      const other = await customer('Other');
      const contactId = await served(me.token);
      const before = await ok<{ conversation: { ratable: boolean; rating: Rating | null } }>(me.token, 'query($c: ID!) { conversation(contactId: $c) { ratable rating { value } } }', { c: contactId });
      expect(before.conversation).toEqual({ ratable: true, rating: null });

      // Another customer's chat is not theirs to rate (nor to know of).
      expect(codeOf(await rate(other.token, contactId, 5))).toBe('NOT_FOUND');
      // Staff do not rate for the customer.
      expect(codeOf(await gql(ann().token, RATE, { input: { contactId, value: 5 } }))).toBe('FORBIDDEN');
      // Off the scale, or a comment too long.
      const outside = await rate(me.token, contactId, 9);
      expect(codeOf(outside)).toBe('BAD_USER_INPUT');
      expect(outside.errors?.[0]?.extensions?.field).toBe('input.value');
      const long = await rate(me.token, contactId, 4, 'x'.repeat(1001));
      expect(codeOf(long)).toBe('BAD_USER_INPUT');
      expect(long.errors?.[0]?.extensions?.field).toBe('input.comment');

      const rated = await rate(me.token, contactId, 4, 'Quick and kind 👍');
      expect(rated.errors).toBeUndefined();
      expect(rated.data!.rateChat).toMatchObject({ ratable: false, rating: { value: 4, label: 'Satisfied', comment: 'Quick and kind 👍' } });

      // Twice: refused, whatever the value; the first stays.
      expect(codeOf(await rate(me.token, contactId, 4, 'Quick and kind 👍'))).toBe('CONFLICT');
      expect(codeOf(await rate(me.token, contactId, 1))).toBe('CONFLICT');

      const record = await t.ok<{ chatRecord: { satisfaction: Rating } }>(s.adminKey, 'query($c: ID!) { chatRecord(contactId: $c) { satisfaction { value label comment ratedAt } } }', { c: contactId });
      expect(record.chatRecord.satisfaction).toMatchObject({ value: 4, label: 'Satisfied', comment: 'Quick and kind 👍' });
      expect(Date.parse(record.chatRecord.satisfaction.ratedAt!)).not.toBeNaN();

      const unrated = await served(me.token);
      await until(
        () => t.ok<{ chatRecord: { endStatus: string | null } }>(s.adminKey, 'query($c: ID!) { chatRecord(contactId: $c) { endStatus } }', { c: unrated }).catch(() => null),
        (r) => r?.chatRecord.endStatus !== null && r !== null,
        60_000,
      );
      const ids = (rows: { contactId: string }[]) => rows.map((r) => r.contactId);
      expect(ids(await chatRecords({ rated: true }))).toContain(contactId);
      expect(ids(await chatRecords({ rated: true }))).not.toContain(unrated);
      expect(ids(await chatRecords({ rated: false }))).toContain(unrated);
      expect(ids(await chatRecords({ rated: false }))).not.toContain(contactId);
      expect(ids(await chatRecords({ satisfaction: 4 }))).toEqual([contactId]);
      expect(await chatRecords({ satisfaction: 5 })).toEqual([]);
      const badFilter = await t.gql(s.adminKey, 'query { chatRecords(filter: { satisfaction: 12 }) { edges { cursor } } }');
      expect(badFilter.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });

    it('a chat still going cannot be rated (turned away: see the unit spec)', async () => {
      const me = await customer('Early');
      const going = await startChat(me.token);
      expect(codeOf(await rate(me.token, going, 5))).toBe('CONFLICT');
      await ok(me.token, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: going });
    });

    it('with chat surveys off a rating is refused and the customer is not asked; a new scale is used from then on', async () => {
      const me = await customer('Switched');
      const contactId = await served(me.token);
      const off = await configure({ channels: { online: false } });
      expect(off.configureSatisfactionSurvey.channels).toEqual({ online: false, phone: false, av: true });
      expect((await customer('Asked?')).webChannel.survey.enabled).toBe(false);
      const conv = await ok<{ conversation: { ratable: boolean } }>(me.token, 'query($c: ID!) { conversation(contactId: $c) { ratable } }', { c: contactId });
      expect(conv.conversation.ratable).toBe(false);
      const refused = await rate(me.token, contactId, 5);
      expect(codeOf(refused)).toBe('CONFLICT');
      expect(refused.errors?.[0]?.message).toMatch(/off/);

      const on = await configure({ channels: { online: true }, scale: [{ value: 1, label: 'Bad' }, { value: 2, label: 'OK' }, { value: 3, label: 'Great' }] });
      expect(on.configureSatisfactionSurvey).toEqual({ scale: [{ value: 1, label: 'Bad' }, { value: 2, label: 'OK' }, { value: 3, label: 'Great' }], channels: { online: true, phone: false, av: true } });
      expect(codeOf(await rate(me.token, contactId, 4))).toBe('BAD_USER_INPUT');
      const rated = await rate(me.token, contactId, 3);
      expect(rated.data?.rateChat.rating).toMatchObject({ value: 3, label: 'Great', comment: null });
      await configure({ scale: defaultSatisfactionSurvey.scale });
    });

    it('call records show the keypad rating and filter on it', async () => {
      const contactCommand = (contactId: string, command: { type: ContactCommand['type']; data: Record<string, unknown> }) =>
        t.kefu.commands.handle(streams.contact(s.instanceId, contactId), contactDecider, {
          type: command.type,
          data: { contactId, ...command.data },
          metadata: { now: new Date().toISOString(), instanceId: s.instanceId, actor: 'system:sip', correlationId: randomUUID() },
        } as ContactCommand);
      const call = async (from: string) => {
        const contactId = randomUUID();
        await contactCommand(contactId, {
          type: 'CreateContact',
          data: { channel: 'PHONE', direction: 'IN', customer: { kind: 'PHONE', id: from, name: null }, data: {}, call: { callId: `${randomUUID()}@trunk`, direction: 'IN', from, to: '+864001234567', trunkId: null, node: 'node-a' } },
        });
        await contactCommand(contactId, { type: 'EndContact', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null } });
        return contactId;
      };
      const phoneOn = { ...defaultSatisfactionSurvey, channels: { ...defaultSatisfactionSurvey.channels, PHONE: true } };
      const rated = await call('+8613800000001');
      const unrated = await call('+8613800000002');
      // Surveys off for phone (the default): refused.
      await expect(contactCommand(rated, { type: 'RateContact', data: { value: 2, comment: null, by: 'KEYPAD', key: '2', survey: defaultSatisfactionSurvey } })).rejects.toThrow(/off for PHONE/);
      await contactCommand(rated, { type: 'RateContact', data: { value: 2, comment: null, by: 'KEYPAD', key: '2', survey: phoneOn } });

      type CallRow = { contactId: string; satisfaction: (Rating & { key: string | null }) | null };
      const list = async (filter: Record<string, unknown>) =>
        (await t.ok<{ callRecords: { edges: { node: CallRow }[] } }>(s.adminKey, 'query($f: CallRecordFilter) { callRecords(first: 200, filter: $f) { edges { node { contactId satisfaction { value label key comment ratedAt } } } } }', { f: filter })).callRecords.edges.map(
          (e) => e.node,
        );
      const shown = await until(
        () => list({ rated: true }),
        (rows) => rows.some((r) => r.contactId === rated),
        60_000,
      );
      expect(shown.find((r) => r.contactId === rated)!.satisfaction).toMatchObject({ value: 2, label: 'Dissatisfied', key: '2', comment: null });
      expect(shown.map((r) => r.contactId)).not.toContain(unrated);
      expect((await list({ rated: false })).map((r) => r.contactId)).toContain(unrated);
      expect((await list({ satisfaction: 2 })).map((r) => r.contactId)).toEqual([rated]);
      expect(await list({ satisfaction: 3 })).toEqual([]);
    });
  });
}

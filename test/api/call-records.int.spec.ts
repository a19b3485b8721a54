// Call records through the public API. Phone calls are driven purely by contact commands, as the SIP side
// sends them (create with a call, flow, keys, queue, ring, accept, record, end, complete the recording),
// while the real router offers them to available agents. Then callRecords/callRecord must tell the story:
// times and durations, keys with labels, end status, who hung up, legs (no answer, transfer) and the
// recording; filters, pages newest first, and what each role may see.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import type { CallInfo } from '../../src/domain/contact/contact.ts';
import { streams } from '../../src/domain/streams.ts';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

type SeededAgent = Awaited<ReturnType<typeof seedInstance>>['agents'][0];

interface Leg {
  sequence: number;
  agentId: string;
  agent: { id: string } | null;
  offerId: string;
  skillGroupId: string | null;
  device: string;
  ringAt: string;
  acceptAt: string | null;
  endAt: string | null;
  result: string | null;
  transferredFromAgentId: string | null;
  transferredToAgentId: string | null;
  transferredToSkillGroupId: string | null;
}

interface CallRecord {
  contactId: string;
  callId: string;
  direction: string;
  caller: string;
  callee: string;
  trunkId: string | null;
  startedAt: string;
  flowStartedAt: string | null;
  queuedAt: string | null;
  ringAt: string | null;
  acceptedAt: string | null;
  endedAt: string | null;
  ivrSeconds: number | null;
  queueSeconds: number | null;
  ringSeconds: number | null;
  talkSeconds: number | null;
  endStatus: string | null;
  endedBy: string | null;
  skillGroup: { id: string; name: string } | null;
  servedSkillGroup: { id: string } | null;
  agent: { id: string; name: string } | null;
  keys: { key: string; label: string | null; at: string }[];
  recording: { id: string; status: string; durationMs: number | null; bytes: number | null; url: string | null } | null;
  recordings: { id: string; status: string }[];
  legs: Leg[];
}

const recordFields = `
  contactId callId direction caller callee trunkId startedAt flowStartedAt queuedAt ringAt acceptedAt endedAt
  ivrSeconds queueSeconds ringSeconds talkSeconds endStatus endedBy
  skillGroup { id name } servedSkillGroup { id } agent { id name }
  keys { key label at }
  recording { id status durationMs bytes url }
  recordings { id status }
  legs {
    sequence agentId agent { id } offerId skillGroupId device ringAt acceptAt endAt result
    transferredFromAgentId transferredToAgentId transferredToSkillGroupId
  }`;
const recordQuery = `query($id: ID!) { callRecord(contactId: $id) { ${recordFields} } }`;
const listQuery = `query($first: Int, $after: String, $filter: CallRecordFilter) {
  callRecords(first: $first, after: $after, filter: $filter) { edges { cursor node { contactId startedAt } } pageInfo { hasNextPage endCursor } }
}`;

const noDrops = { malformed: 0, wrongSource: 0, unknownPayloadType: 0, beforeNegotiation: 0 };
const annFigures = { packetsReceived: 0, packetsSent: 55, packetsLost: 0, jitterMs: 0, silentSeconds: 31, dropped: { ...noDrops, unknownPayloadType: 12 } };
const customerFigures = { packetsReceived: 160, packetsSent: 150, packetsLost: 3, jitterMs: 2.5, silentSeconds: 0, dropped: noDrops };
const mediaFields = 'packetsReceived packetsSent packetsLost jitterMs silentSeconds dropped { malformed wrongSource unknownPayloadType beforeNegotiation } measuredAt';

const seconds = (from: string, to: string) => Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));

for (const database of ['pglite', 'postgres'] as const) {
  describe(`call records (${database})`, () => {
    let t: TestKefu;
    let s: Awaited<ReturnType<typeof seedInstance>> & { groupId: string; integrationKey: string };
    let ann: SeededAgent;
    let bob: SeededAgent;
    let sue: SeededAgent;
    /** Answered by Ann, recorded, hung up by the customer. */
    let answered: string;
    let recordingId: string;
    /** Ann lets it ring out, Bob answers and transfers it to Ann, who hangs up. */
    let transferred: string;
    /** Turned away: no agent online. */
    let rejected: string;
    /** An outbound call nobody answered. */
    let outbound: string;
    /** A phone contact created through the API, without a call: no call record. */
    let noCall: string;

    const contactCommand = (contactId: string, command: { type: ContactCommand['type']; data: Record<string, unknown> }) =>
      t.kefu.commands.handle(streams.contact(s.instanceId, contactId), contactDecider, {
        type: command.type,
        data: { contactId, ...command.data },
        metadata: { now: new Date().toISOString(), instanceId: s.instanceId, actor: 'system:sip', correlationId: randomUUID() },
      } as ContactCommand);

    const call = (from: string, direction: 'IN' | 'OUT' = 'IN'): CallInfo => ({
      callId: `${randomUUID()}@trunk.example.com`,
      direction,
      from,
      to: direction === 'IN' ? '+864001234567' : from,
      trunkId: null,
      node: 'node-a',
    });

    async function startCall(from: string, direction: 'IN' | 'OUT' = 'IN'): Promise<string> {
      const contactId = randomUUID();
      const info = direction === 'IN' ? call(from) : { ...call('+864001234567', 'OUT'), to: from };
      await contactCommand(contactId, {
        type: 'CreateContact',
        data: { channel: 'PHONE', direction, customer: { kind: 'PHONE', id: from, name: null }, data: {}, call: info },
      });
      return contactId;
    }

    /** Waits for the router's offer of the contact to `agentId`; returns the offer id. */
    async function offerTo(contactId: string, agentId: string): Promise<string> {
      // The contacts read model may not hold the contact yet (commands do not wait for it): NOT_FOUND until then.
      const r = await until(
        () =>
          t
            .ok<{ contact: { status: string; offer: { offerId: string; agents: { id: string }[] } | null } }>(
              s.adminKey,
              'query($id: ID!) { contact(id: $id) { status offer { offerId agents { id } } } }',
              { id: contactId },
            )
            .catch(() => null),
        (x) => x?.contact.status === 'OFFERED' && (x.contact.offer?.agents.some((a) => a.id === agentId) ?? false),
      );
      return r!.contact.offer!.offerId;
    }

    const record = (token: string, contactId: string) => t.gql<{ callRecord: CallRecord }>(token, recordQuery, { id: contactId });
    const settled = (contactId: string, ok: (r: CallRecord) => boolean) =>
      until(
        () => t.ok<{ callRecord: CallRecord | null }>(s.adminKey, recordQuery, { id: contactId }).catch(() => ({ callRecord: null })),
        (r) => r.callRecord !== null && ok(r.callRecord),
      ).then((r) => r.callRecord!);
    const list = (token: string, variables: Record<string, unknown> = {}) =>
      t.ok<{ callRecords: { edges: { cursor: string; node: { contactId: string; startedAt: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(
        token,
        listQuery,
        variables,
      ).then((r) => r.callRecords);

    beforeAll(async () => {
      t = await startTestKefu({ database });
      const seeded = await seedInstance(t, {
        name: 'Calls',
        agents: [
          { name: 'Ann', login: 'ann' },
          { name: 'Bob', login: 'bob' },
          { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
        ],
      });
      [ann, bob, sue] = seeded.agents as [typeof ann, typeof ann, typeof ann];
      const key = await t.ok<{ createApiKey: { secret: string } }>(seeded.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
      const g = await t.ok<{ createSkillGroup: { id: string } }>(
        seeded.adminKey,
        'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE, strategy: LONGEST_IDLE, ringTimeoutSeconds: 5 }) { id } }',
      );
      for (const a of [ann, bob]) {
        await t.ok(seeded.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: g.createSkillGroup.id, a: a.id });
      }
      s = { ...seeded, groupId: g.createSkillGroup.id, integrationKey: key.createApiKey.secret };
      await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');

      // 1. Answered by Ann after the IVR, recorded, the customer hangs up; the recording completes after.
      answered = await startCall('+8613800000001');
      await contactCommand(answered, { type: 'StartFlow', data: { flowId: 'main-menu' } });
      await contactCommand(answered, { type: 'PressKey', data: { key: '1', label: 'Sales' } });
      await contactCommand(answered, { type: 'PressKey', data: { key: '3', label: 'New order' } });
      await contactCommand(answered, { type: 'QueueContact', data: { skillGroupId: s.groupId, priority: 0 } });
      const offer1 = await offerTo(answered, ann.id);
      await contactCommand(answered, { type: 'RingAgentLeg', data: { offerId: offer1, agentId: ann.id, device: 'WEBRTC', address: 'sip:ann@kefu' } });
      await contactCommand(answered, { type: 'AcceptOffer', data: { offerId: offer1, agentId: ann.id } });
      recordingId = randomUUID();
      await contactCommand(answered, { type: 'StartRecording', data: { recordingId, agentId: ann.id } });
      // Ann's phone sends nothing: the call session reports her side silent (issue 9).
      await contactCommand(answered, { type: 'ReportMediaSilence', data: { side: 'AGENT', agentId: ann.id, silentSeconds: 30 } });
      await new Promise((r) => setTimeout(r, 1100));
      await contactCommand(answered, { type: 'EndContact', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null } });
      // Each leg's figures come as its part ends (the agent's, then the customer's when the call is freed).
      await contactCommand(answered, { type: 'RecordMediaFigures', data: { side: 'AGENT', agentId: ann.id, figures: annFigures } });
      await contactCommand(answered, { type: 'RecordMediaFigures', data: { side: 'CUSTOMER', agentId: null, figures: customerFigures } });
      await contactCommand(answered, { type: 'CompleteRecording', data: { recordingId, durationMs: 1100, bytes: 17_644 } });

      // 2. Ann lets it ring out (5 s); Bob, available meanwhile, answers and transfers it to Ann, who ends it.
      transferred = await startCall('+8613800000002');
      await contactCommand(transferred, { type: 'QueueContact', data: { skillGroupId: s.groupId, priority: 0 } });
      const missed = await offerTo(transferred, ann.id);
      await contactCommand(transferred, { type: 'RingAgentLeg', data: { offerId: missed, agentId: ann.id, device: 'SIP_PHONE', address: 'sip:ann@10.0.0.5' } });
      await t.ok(bob.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      const offer2 = await offerTo(transferred, bob.id);
      // A ring for the offer that timed out is stale: nothing happens.
      expect((await contactCommand(transferred, { type: 'RingAgentLeg', data: { offerId: missed, agentId: ann.id, device: 'SIP_PHONE', address: 'x' } })).events).toEqual([]);
      await contactCommand(transferred, { type: 'AcceptOffer', data: { offerId: offer2, agentId: bob.id } });
      await contactCommand(transferred, { type: 'TransferContact', data: { agentId: bob.id, toAgentId: ann.id, toSkillGroupId: null, note: 'VIP' } });
      const offer3 = await offerTo(transferred, ann.id);
      await contactCommand(transferred, { type: 'AcceptOffer', data: { offerId: offer3, agentId: ann.id } });
      await contactCommand(transferred, { type: 'EndContact', data: { reason: 'agentHangUp', endedBy: 'AGENT', agentId: ann.id } });

      // 3. Turned away before any queue.
      rejected = await startCall('+8613800000003');
      await contactCommand(rejected, { type: 'RejectContact', data: { reason: 'NO_AGENT' } });

      // 4. An outbound call to a customer who never answers.
      outbound = await startCall('+8613800000004', 'OUT');
      await contactCommand(outbound, { type: 'EndContact', data: { reason: 'notAnswered', endedBy: 'SYSTEM', agentId: null } });

      // 5. A phone contact from an integration, with no call behind it.
      await t.ok(bob.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
      await t.ok(ann.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
      const created = await t.ok<{ createContact: { id: string } }>(
        s.integrationKey,
        'mutation($g: ID!) { createContact(input: { channel: PHONE, customer: { kind: PHONE, id: "+8613800000005" }, skillGroupId: $g }) { id } }',
        { g: s.groupId },
      );
      noCall = created.createContact.id;

      await settled(outbound, (r) => r.endStatus === 'notAnswered');
      await settled(answered, (r) => r.recording?.status === 'READY');
    });
    afterAll(async () => t?.close());

    it('tells an answered call: times, durations, keys with labels, end status, who hung up, its leg and its recording', async () => {
      const r = await settled(answered, (x) => x.recording?.status === 'READY');
      expect(r).toMatchObject({
        contactId: answered,
        direction: 'IN',
        caller: '+8613800000001',
        callee: '+864001234567',
        trunkId: null,
        endStatus: 'customerHangUp',
        endedBy: 'CUSTOMER',
        skillGroup: { id: s.groupId, name: 'Sales' },
        servedSkillGroup: { id: s.groupId },
        agent: { id: ann.id, name: 'Ann' },
        recording: { id: recordingId, status: 'READY', durationMs: 1100, bytes: 17_644, url: `/recordings/${recordingId}` },
        recordings: [{ id: recordingId, status: 'READY' }],
      });
      expect(r.callId).toMatch(/@trunk\.example\.com$/);
      expect(r.keys.map(({ key, label }) => ({ key, label }))).toEqual([
        { key: '1', label: 'Sales' },
        { key: '3', label: 'New order' },
      ]);
      // Each stage after the last, and each duration what its times say.
      const times = [r.startedAt, r.flowStartedAt!, r.keys[0]!.at, r.keys[1]!.at, r.queuedAt!, r.ringAt!, r.acceptedAt!, r.endedAt!];
      expect(times.every(Boolean)).toBe(true);
      expect([...times].sort((a, b) => Date.parse(a) - Date.parse(b))).toEqual(times);
      expect(r.ivrSeconds).toBe(seconds(r.flowStartedAt!, r.queuedAt!));
      expect(r.queueSeconds).toBe(seconds(r.queuedAt!, r.acceptedAt!));
      expect(r.ringSeconds).toBe(seconds(r.ringAt!, r.acceptedAt!));
      expect(r.talkSeconds).toBe(seconds(r.acceptedAt!, r.endedAt!));
      expect(r.talkSeconds).toBeGreaterThanOrEqual(1);
      for (const d of [r.ivrSeconds, r.queueSeconds, r.ringSeconds, r.talkSeconds]) expect(d).toBeGreaterThanOrEqual(0);
      expect(r.legs).toEqual([
        {
          sequence: 1,
          agentId: ann.id,
          agent: { id: ann.id },
          offerId: expect.any(String),
          skillGroupId: s.groupId,
          device: 'WEBRTC',
          ringAt: r.ringAt,
          acceptAt: r.acceptedAt,
          endAt: r.endedAt,
          result: 'ANSWERED',
          transferredFromAgentId: null,
          transferredToAgentId: null,
          transferredToSkillGroupId: null,
        },
      ]);
    });

    it("shows each leg's media figures and the silent side, and finds one-way calls by filter (issue 9)", async () => {
      const media = await t.ok<{ callRecord: { silentSides: string[]; customerMedia: unknown; legs: { agentId: string; media: unknown; silentAt: string | null }[] } }>(
        s.adminKey,
        `query($id: ID!) { callRecord(contactId: $id) { silentSides customerMedia { ${mediaFields} } legs { agentId silentAt media { ${mediaFields} } } } }`,
        { id: answered },
      );
      expect(media.callRecord.silentSides).toEqual(['AGENT']);
      expect(media.callRecord.customerMedia).toEqual({ ...customerFigures, measuredAt: expect.any(String) });
      expect(media.callRecord.legs).toEqual([{ agentId: ann.id, silentAt: expect.any(String), media: { ...annFigures, measuredAt: expect.any(String) } }]);

      // A call where audio flowed (and one with no agent leg at all) shows no silent side and no leg figures.
      const quiet = await t.ok<{ callRecord: { silentSides: string[]; customerMedia: unknown; legs: { media: unknown; silentAt: string | null }[] } }>(
        s.adminKey,
        'query($id: ID!) { callRecord(contactId: $id) { silentSides customerMedia { packetsReceived } legs { media { packetsReceived } silentAt } } }',
        { id: transferred },
      );
      expect(quiet.callRecord).toEqual({ silentSides: [], customerMedia: null, legs: [expect.objectContaining({ media: null, silentAt: null }), expect.anything(), expect.anything()] });

      const ids = async (filter: Record<string, unknown>) => (await list(s.adminKey, { filter })).edges.map((e) => e.node.contactId);
      expect(await ids({ mediaSilent: true })).toEqual([answered]);
      expect(await ids({ mediaSilent: false })).toEqual([outbound, rejected, transferred]);
      expect(await ids({ silentSide: 'AGENT' })).toEqual([answered]);
      expect(await ids({ silentSide: 'CUSTOMER' })).toEqual([]);
      expect(await ids({ silentSide: 'AGENT', agentId: bob.id })).toEqual([]);
      const bad = await t.gql(s.adminKey, listQuery, { filter: { silentSide: 'NOBODY' } });
      expect(bad.errors?.[0]?.message).toMatch(/silentSide|CallSide/);
    });

    it('tells a call that rang out at the first agent, was answered by the second and transferred back', async () => {
      const r = await settled(transferred, (x) => x.endStatus !== null);
      expect(r).toMatchObject({ endStatus: 'agentHangUp', endedBy: 'AGENT', agent: { id: ann.id }, recording: null, recordings: [], keys: [], flowStartedAt: null, ivrSeconds: null });
      expect(r.legs.map((l) => [l.sequence, l.agentId, l.result, l.device])).toEqual([
        [1, ann.id, 'NO_ANSWER', 'SIP_PHONE'],
        [2, bob.id, 'ANSWERED', 'SIP_PHONE'],
        [3, ann.id, 'ANSWERED', 'SIP_PHONE'],
      ]);
      const [first, second, third] = r.legs as [Leg, Leg, Leg];
      // The first leg rang until its offer's ring timeout (5 s after the offer; the test rang it a moment after
      // the offer, later on a loaded machine), then the call rang Bob.
      const offered = (await t.kefu.store.readStream(streams.contact(s.instanceId, transferred))).find((e) => e.type === 'ContactOffered' && e.data.offerId === first.offerId)!;
      const missedExpiry = Date.parse(offered.data.expiresAt as string);
      expect(Date.parse(first.endAt!)).toBeGreaterThanOrEqual(missedExpiry);
      expect(first.acceptAt).toBeNull();
      expect(new Set([first.offerId, second.offerId, third.offerId]).size).toBe(3);
      expect(second).toMatchObject({ transferredToAgentId: ann.id, transferredToSkillGroupId: null, transferredFromAgentId: null });
      expect(Date.parse(second.endAt!)).toBeLessThanOrEqual(Date.parse(third.ringAt));
      expect(third).toMatchObject({ transferredFromAgentId: bob.id, endAt: r.endedAt });
      // Ringing counts from the first ring to the first accept: at least the missed 5 s.
      expect(r.ringAt).toBe(first.ringAt);
      expect(r.acceptedAt).toBe(second.acceptAt);
      expect(r.ringSeconds).toBe(seconds(r.ringAt!, r.acceptedAt!));
      expect(Date.parse(r.acceptedAt!)).toBeGreaterThanOrEqual(missedExpiry);
      expect(r.queueSeconds).toBe(seconds(r.queuedAt!, r.acceptedAt!));
      expect(r.talkSeconds).toBe(seconds(r.acceptedAt!, r.endedAt!));
    });

    it('tells a call turned away, with the end status users know, and an outbound call nobody answered', async () => {
      const r = await settled(rejected, (x) => x.endStatus !== null);
      expect(r).toMatchObject({ endStatus: 'noAgentOnline', endedBy: 'SYSTEM', legs: [], agent: null, acceptedAt: null, talkSeconds: null, queueSeconds: null });
      expect(r.endedAt).not.toBeNull();
      const out = await settled(outbound, (x) => x.endStatus !== null);
      expect(out).toMatchObject({ direction: 'OUT', callee: '+8613800000004', endStatus: 'notAnswered', endedBy: 'SYSTEM', legs: [] });
    });

    it('has no record for a contact without a call, nor for an unknown id', async () => {
      for (const id of [noCall, randomUUID()]) {
        const r = await record(s.adminKey, id);
        expect(r.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      }
      const all = await list(s.adminKey);
      expect(all.edges.map((e) => e.node.contactId)).not.toContain(noCall);
    });

    it('lists records newest first, a page at a time', async () => {
      const all = await list(s.adminKey);
      expect(all.edges.map((e) => e.node.contactId)).toEqual([outbound, rejected, transferred, answered]);
      expect(all.pageInfo).toEqual({ hasNextPage: false, endCursor: all.edges.at(-1)!.cursor });
      const seen: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 5; page++) {
        const r = await list(s.adminKey, { first: 3, after });
        seen.push(...r.edges.map((e) => e.node.contactId));
        if (!r.pageInfo.hasNextPage) break;
        after = r.pageInfo.endCursor;
      }
      expect(seen).toEqual([outbound, rejected, transferred, answered]);
      const second = await list(s.adminKey, { first: 1, after: all.edges[1]!.cursor });
      expect(second.edges.map((e) => e.node.contactId)).toEqual([transferred]);
      expect(second.pageInfo.hasNextPage).toBe(true);
    });

    it('filters by time, agent, number, end status and direction', async () => {
      const all = (await list(s.adminKey)).edges.map((e) => e.node);
      const startOf = (id: string) => all.find((n) => n.contactId === id)!.startedAt;
      const ids = async (filter: Record<string, unknown>) => (await list(s.adminKey, { filter })).edges.map((e) => e.node.contactId);
      expect(await ids({ from: startOf(transferred) })).toEqual([outbound, rejected, transferred]);
      expect(await ids({ to: startOf(transferred) })).toEqual([answered]);
      expect(await ids({ from: startOf(transferred), to: startOf(outbound) })).toEqual([rejected, transferred]);
      expect(await ids({ agentId: bob.id })).toEqual([transferred]);
      expect(await ids({ agentId: ann.id })).toEqual([transferred, answered]);
      expect(await ids({ number: '+8613800000003' })).toEqual([rejected]);
      expect(await ids({ number: '+864001234567' })).toEqual([outbound, rejected, transferred, answered]);
      expect(await ids({ endStatus: 'customerHangUp' })).toEqual([answered]);
      expect(await ids({ direction: 'OUT' })).toEqual([outbound]);
      expect(await ids({ direction: 'IN', endStatus: 'noAgentOnline' })).toEqual([rejected]);
    });

    it('shows an agent only the calls they had a leg of; supervisors, admins and integrations see all; the operator none', async () => {
      const ids = async (token: string) => (await list(token)).edges.map((e) => e.node.contactId);
      expect(await ids(ann.token)).toEqual([transferred, answered]);
      expect(await ids(bob.token)).toEqual([transferred]);
      // An agent's own filter cannot widen what they see.
      expect((await list(bob.token, { filter: { agentId: ann.id } })).edges.map((e) => e.node.contactId)).toEqual([transferred]);
      for (const token of [sue.token, s.adminKey, s.integrationKey]) expect(await ids(token)).toEqual([outbound, rejected, transferred, answered]);
      expect((await record(bob.token, transferred)).data?.callRecord.contactId).toBe(transferred);
      const notHis = await record(bob.token, answered);
      const nowhere = await record(bob.token, randomUUID());
      expect(notHis.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      expect(nowhere.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      const op = await t.gql(operatorToken, listQuery, {});
      expect(op.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
      const anonymous = await t.gql(null, listQuery, {});
      expect(anonymous.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    });

    it('refuses bad arguments with BAD_USER_INPUT naming the field', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ first: 0 }, 'first'],
        [{ first: 201 }, 'first'],
        [{ after: 'not-a-cursor' }, 'after'],
        [{ filter: { agentId: 'nope' } }, 'filter.agentId'],
        [{ filter: { from: '2026-12-02T10:00:00Z', to: '2026-12-02T09:00:00Z' } }, 'filter.to'],
        [{ filter: { number: '' } }, 'filter.number'],
      ];
      for (const [variables, field] of cases) {
        const r = await t.gql(s.adminKey, listQuery, variables);
        expect(r.errors?.map((e) => [e.extensions?.code, e.extensions?.field]), JSON.stringify(variables)).toEqual([['BAD_USER_INPUT', field]]);
      }
      const badDate = await t.gql(s.adminKey, listQuery, { filter: { from: 'yesterday' } });
      expect(badDate.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const badId = await record(s.adminKey, 'nope');
      expect(badId.errors?.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'contactId']]);
    });

    it('gives the same records when every event of a call is applied again (idempotent handlers)', async () => {
      const { callRecordsProjection } = await import('../../src/projections/call-records/call-records.projection.ts');
      for (const contactId of [answered, transferred, rejected]) {
        const before = await record(s.adminKey, contactId);
        const events = await t.kefu.store.readStream(streams.contact(s.instanceId, contactId));
        await t.kefu.db.transaction().execute(async (trx) => {
          for (const e of events) if (callRecordsProjection.eventTypes.has(e.type)) await callRecordsProjection.apply!(trx, e, { publish: () => undefined });
        });
        expect(await record(s.adminKey, contactId)).toEqual(before);
      }
    });

    it('is rebuilt from the events to the same rows', async () => {
      const { rebuildProjection } = await import('../../src/projections/projection-runner.ts');
      const { callRecordsProjection } = await import('../../src/projections/call-records/call-records.projection.ts');
      const before = await t.ok(s.adminKey, `{ callRecords { edges { node { ${recordFields} } } } }`);
      await rebuildProjection({ store: t.kefu.store, db: t.kefu.db, projection: callRecordsProjection });
      expect(await t.ok(s.adminKey, `{ callRecords { edges { node { ${recordFields} } } } }`)).toEqual(before);
    });
  });
}

// Reports (issue 15): a scripted day of contact and agent events (calls answered, abandoned in the IVR, in
// the queue and while ringing, a transfer, a chat, an outbound call, a turned-away call, a break, after-call
// work) is counted into the report projection; the reports equal the numbers worked out by hand below, in
// two time zones (Europe/Berlin across its spring-forward night and midnight, Asia/Kolkata at +5:30), through
// the query functions and the GraphQL API; a rebuild from the first event gives the same rows and reports.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Position } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import { rebuildProjection } from '../../src/projections/projection-runner.ts';
import { agentReport, instanceReport, resolveReportRequest, skillGroupReport, type ReportInput } from '../../src/projections/reports/report-queries.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';

const limits = { maxRangeDays: 366, maxRows: 2000 };
/** After every scripted event: no agent state is still open then (both agents end offline). */
const later = new Date('2026-04-01T00:00:00Z');

interface Day {
  instanceId: string;
  adminKey: string;
  ann: { id: string; token: string };
  bob: { id: string; token: string };
  sales: string;
  chat: string;
}

/** UTC times of the scripted day: 2026-03-28 22:50 to 2026-03-29 01:10 (Berlin: 23:50 CET to 03:10 CEST). */
const at = (hhmmss: string, day = hhmmss < '12' ? '29' : '28') => `2026-03-${day}T${hhmmss}Z`;

async function scriptDay(t: TestKefu): Promise<Day> {
  const seeded = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
  const [ann, bob] = seeded.agents as [(typeof seeded.agents)[0], (typeof seeded.agents)[0]];
  const instanceId = seeded.instanceId;
  // The script is the only author of these streams: the router would end the after-call work and release
  // the reservations it scripts at today's time (their expiry and wrap-up end are in the past).
  await t.kefu.router.stop();
  // Skill groups the router does not know (no members): nothing but this script moves these contacts.
  const sales = randomUUID();
  const chat = randomUUID();
  let last: Position | null = null;
  const append = async (stream: string, type: string, data: Record<string, unknown>, occurredAt: string) => {
    const r = await t.kefu.store.appendToStream(
      stream,
      [{ id: randomUUID(), type, data, metadata: { instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt } }],
      { expectedRevision: 'any' },
    );
    last = r.position;
  };
  const agent = (id: string) => (type: string, data: Record<string, unknown>, time: string) => append(streams.agent(instanceId, id), type, data, at(time));
  const A = agent(ann.id);
  const B = agent(bob.id);
  const contact = (channel: 'PHONE' | 'ONLINE', direction: 'IN' | 'OUT', created: string) => {
    const id = randomUUID();
    const c = (type: string, data: Record<string, unknown>, time: string) => append(streams.contact(instanceId, id), type, data, at(time));
    return {
      id,
      c,
      create: () =>
        c('ContactCreated', { contactId: id, channel, direction, customer: { kind: channel === 'PHONE' ? 'PHONE' : 'WEB', id: `cust-${id.slice(0, 8)}`, name: null }, data: {}, createdAt: at(created) }, created),
    };
  };
  const offer = (x: { c: (type: string, data: Record<string, unknown>, time: string) => Promise<void> }, offerId: string, agentIds: string[], time: string) =>
    x.c('ContactOffered', { offerId, agentIds, expiresAt: at(time), transfer: null }, time);

  await A('AgentWentAvailable', {}, '22:50:00');
  // C1 (Berlin 2026-03-28): flow, queued 20 s, rang Ann 10 s, 180 s talk with 30 s hold, 60 s after-call work.
  const c1 = contact('PHONE', 'IN', '22:55:00');
  await c1.create();
  await c1.c('ContactFlowStarted', { flowId: null }, '22:55:00');
  await c1.c('ContactQueued', { skillGroupId: sales, priority: 0, queuedAt: at('22:55:30') }, '22:55:30');
  const o1 = randomUUID();
  await offer(c1, o1, [ann.id], '22:55:40');
  await A('AgentReserved', { contactId: c1.id, offerId: o1, channel: 'PHONE', skillGroupId: sales, expiresAt: at('22:56:40') }, '22:55:40');
  await c1.c('ContactAccepted', { offerId: o1, agentId: ann.id, at: at('22:55:50') }, '22:55:50');
  await A('AgentContactConnected', { contactId: c1.id, at: at('22:55:50') }, '22:55:50');
  await c1.c('CallHeld', { agentId: ann.id, at: at('22:56:00') }, '22:56:00');
  await c1.c('CallResumed', { agentId: ann.id, at: at('22:56:30') }, '22:56:30');
  await c1.c('ContactEnded', { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null, at: at('22:58:50') }, '22:58:50');
  await A('AgentContactFinished', { contactId: c1.id, at: at('22:58:50') }, '22:58:50');
  await A('AgentWrapUpStarted', { contactId: c1.id, until: at('23:00:00') }, '22:58:50');
  await A('AgentWrapUpEnded', { contactId: c1.id }, '22:59:50');
  await B('AgentWentAvailable', {}, '23:00:00');
  // C2: hung up in the IVR.
  const c2 = contact('PHONE', 'IN', '23:05:00');
  await c2.create();
  await c2.c('ContactFlowStarted', { flowId: null }, '23:05:00');
  await c2.c('ContactEnded', { reason: 'ivrGiveUp', endedBy: 'CUSTOMER', agentId: null, at: at('23:05:20') }, '23:05:20');
  // C3: hung up after 45 s in the queue.
  const c3 = contact('PHONE', 'IN', '23:10:00');
  await c3.create();
  await c3.c('ContactQueued', { skillGroupId: sales, priority: 0, queuedAt: at('23:10:10') }, '23:10:10');
  await c3.c('ContactEnded', { reason: 'waitingGiveUp', endedBy: 'CUSTOMER', agentId: null, at: at('23:10:55') }, '23:10:55');
  // C4: hung up while Bob's phone rang, 20 s after queueing.
  const c4 = contact('PHONE', 'IN', '23:20:00');
  await c4.create();
  await c4.c('ContactQueued', { skillGroupId: sales, priority: 0, queuedAt: at('23:20:05') }, '23:20:05');
  const o4 = randomUUID();
  await offer(c4, o4, [bob.id], '23:20:10');
  await B('AgentReserved', { contactId: c4.id, offerId: o4, channel: 'PHONE', skillGroupId: sales, expiresAt: at('23:21:10') }, '23:20:10');
  await c4.c('ContactEnded', { reason: 'ringingGiveUp', endedBy: 'CUSTOMER', agentId: null, at: at('23:20:25') }, '23:20:25');
  await B('AgentReservationReleased', { contactId: c4.id, offerId: o4, reason: 'CONTACT_ENDED' }, '23:20:25');
  // C6: a chat, answered by Ann after 10 s; her first message 40 s after it queued; 600 s connected.
  const c6 = contact('ONLINE', 'IN', '23:30:00');
  await c6.create();
  await c6.c('ContactQueued', { skillGroupId: chat, priority: 0, queuedAt: at('23:30:00') }, '23:30:00');
  const o6 = randomUUID();
  await offer(c6, o6, [ann.id], '23:30:05');
  await A('AgentReserved', { contactId: c6.id, offerId: o6, channel: 'ONLINE', skillGroupId: chat, expiresAt: at('23:31:05') }, '23:30:05');
  await c6.c('ContactAccepted', { offerId: o6, agentId: ann.id, at: at('23:30:10') }, '23:30:10');
  await A('AgentContactConnected', { contactId: c6.id, at: at('23:30:10') }, '23:30:10');
  const message = (from: 'AGENT' | 'CUSTOMER', seq: number, time: string) =>
    c6.c(
      'ContactMessageRecorded',
      { messageId: randomUUID(), from, agentId: from === 'AGENT' ? ann.id : null, text: 'hi', at: at(time), seq, clientMessageId: null, kind: 'TEXT', attachment: null, system: null },
      time,
    );
  await message('CUSTOMER', 1, '23:30:20');
  await message('AGENT', 2, '23:30:40');
  await message('AGENT', 3, '23:31:00');
  await c6.c('ContactEnded', { reason: 'endedByCustomer', endedBy: 'CUSTOMER', agentId: null, at: at('23:40:10') }, '23:40:10');
  await A('AgentContactFinished', { contactId: c6.id, at: at('23:40:10') }, '23:40:10');
  // C7: Ann's outbound call, answered after 20 s, 120 s talk.
  const c7 = contact('PHONE', 'OUT', '23:45:00');
  await c7.create();
  await c7.c('ContactAssigned', { agentId: ann.id, skillGroupId: sales, at: at('23:45:00') }, '23:45:00');
  await c7.c('CallCustomerAnswered', { at: at('23:45:20') }, '23:45:20');
  await c7.c('ContactEnded', { reason: 'ok', endedBy: 'AGENT', agentId: ann.id, at: at('23:47:20') }, '23:47:20');
  // Ann's meal break, 30 minutes across Berlin's 00:00 (23:00Z) ... no: 23:50Z to 00:20Z.
  await A('AgentWentOnBreak', { reason: 'Meal' }, '23:50:00');
  // C8: turned away after 120 s in the queue.
  const c8 = contact('PHONE', 'IN', '23:50:00');
  await c8.create();
  await c8.c('ContactQueued', { skillGroupId: sales, priority: 0, queuedAt: at('23:50:00') }, '23:50:00');
  await c8.c('ContactRejected', { reason: 'QUEUE_TIMEOUT' }, '23:52:00');
  await A('AgentWentAvailable', {}, '00:20:00');
  // C5, across Berlin's spring-forward (01:00Z = 02:00 CET → 03:00 CEST): rang Ann 15 s (missed), then Bob,
  // who answered 60 s after queueing, talked 120 s and transferred to Ann, who answered after 10 s and talked 120 s.
  const c5 = contact('PHONE', 'IN', '00:58:00');
  await c5.create();
  await c5.c('ContactQueued', { skillGroupId: sales, priority: 0, queuedAt: at('00:58:00') }, '00:58:00');
  const o5a = randomUUID();
  await offer(c5, o5a, [ann.id], '00:58:30');
  await A('AgentReserved', { contactId: c5.id, offerId: o5a, channel: 'PHONE', skillGroupId: sales, expiresAt: at('00:58:45') }, '00:58:30');
  await c5.c('ContactOfferTimedOut', { offerId: o5a, agentIds: [ann.id] }, '00:58:45');
  await A('AgentReservationReleased', { contactId: c5.id, offerId: o5a, reason: 'TIMED_OUT' }, '00:58:45');
  const o5b = randomUUID();
  await offer(c5, o5b, [bob.id], '00:58:50');
  await B('AgentReserved', { contactId: c5.id, offerId: o5b, channel: 'PHONE', skillGroupId: sales, expiresAt: at('00:59:50') }, '00:58:50');
  await c5.c('ContactAccepted', { offerId: o5b, agentId: bob.id, at: at('00:59:00') }, '00:59:00');
  await B('AgentContactConnected', { contactId: c5.id, at: at('00:59:00') }, '00:59:00');
  await c5.c('ContactTransferred', { fromAgentId: bob.id, toAgentId: ann.id, toSkillGroupId: null, note: null }, '01:01:00');
  await B('AgentContactFinished', { contactId: c5.id, at: at('01:01:00') }, '01:01:00');
  const o5c = randomUUID();
  await offer(c5, o5c, [ann.id], '01:01:05');
  await A('AgentReserved', { contactId: c5.id, offerId: o5c, channel: 'PHONE', skillGroupId: sales, expiresAt: at('01:02:05') }, '01:01:05');
  await c5.c('ContactAccepted', { offerId: o5c, agentId: ann.id, at: at('01:01:15') }, '01:01:15');
  await A('AgentContactConnected', { contactId: c5.id, at: at('01:01:15') }, '01:01:15');
  await c5.c('ContactEnded', { reason: 'ok', endedBy: 'AGENT', agentId: ann.id, at: at('01:03:15') }, '01:03:15');
  await A('AgentContactFinished', { contactId: c5.id, at: at('01:03:15') }, '01:03:15');
  await B('AgentWentOffline', {}, '01:05:00');
  await A('AgentWentOffline', {}, '01:10:00');
  expect(await t.kefu.projections.waitFor(last!, { projections: ['reports'], timeoutMs: 60_000 })).toBe(true);
  return { instanceId, adminKey: seeded.adminKey, ann, bob, sales, chat };
}

const request = (t: TestKefu, d: Day, input: Partial<ReportInput> & { timeZone: string }) =>
  resolveReportRequest(t.kefu.db, d.instanceId, { from: '2026-03-29', to: '2026-03-29', interval: 'TOTAL', ...input }, limits);

const row = <R extends { channel: string; direction: string }>(rows: { node: R }[], channel: string, direction: string) =>
  rows.map((e) => e.node).find((n) => n.channel === channel && n.direction === direction);

async function reportFigures(t: TestKefu, d: Day) {
  const berlin = await instanceReport(t.kefu.db, await request(t, d, { timeZone: 'Europe/Berlin' }), { first: 100, after: null });
  const kolkata = await instanceReport(t.kefu.db, await request(t, d, { timeZone: 'Asia/Kolkata' }), { first: 100, after: null });
  const berlinHours = await instanceReport(t.kefu.db, await request(t, d, { timeZone: 'Europe/Berlin', interval: 'HOUR' }), { first: 100, after: null });
  const agents = await agentReport(t.kefu.db, await request(t, d, { timeZone: 'Europe/Berlin' }), { first: 100, after: null }, later);
  const agentsKolkata = await agentReport(t.kefu.db, await request(t, d, { timeZone: 'Asia/Kolkata' }), { first: 100, after: null }, later);
  const groups = await skillGroupReport(t.kefu.db, await request(t, d, { timeZone: 'Asia/Kolkata', interval: 'DAY', from: '2026-03-28', to: '2026-03-30' }), { first: 100, after: null });
  return { berlin, kolkata, berlinHours, agents, agentsKolkata, groups };
}

for (const database of ['pglite', 'postgres'] as const) {
  describe.runIf(database === 'pglite' || (await wantPostgres()))(`reports of a scripted day (${database})`, () => {
    let t: TestKefu;
    let d: Day;
    let figures: Awaited<ReturnType<typeof reportFigures>>;
    beforeAll(async () => {
      t = await startTestKefu({ database });
      d = await scriptDay(t);
      figures = await reportFigures(t, d);
    }, 180_000);
    afterAll(async () => t?.close());

    it('counts Berlin’s 29 March (from 23:00Z, CET) per channel and direction, by hand', () => {
      const phone = row(figures.berlin.edges, 'PHONE', 'IN')!.metrics;
      // C2 (IVR), C3 (queue), C4 (ringing), C5 (answered after 60 s, transferred), C8 (turned away after 120 s).
      expect(phone).toMatchObject({
        created: 5,
        ivrEntered: 1,
        queued: 4,
        offered: 2,
        handled: 1,
        abandonedInIvr: 1,
        abandonedInQueue: 1,
        abandonedRinging: 1,
        abandoned: 2,
        rejected: 1,
        transferred: 1,
        answerRate: 1 / 4,
        abandonRate: 2 / 4,
        serviceLevelSeconds: 20,
        queueExits: 4,
        // Within 20 s: C4 (20 s). C3 45 s, C5 60 s, C8 120 s.
        serviceLevelMet: 1,
        serviceLevel: 1 / 4,
        averageSpeedOfAnswerSeconds: 60,
        maxSpeedOfAnswerSeconds: 60,
        averageAbandonSeconds: (45 + 20) / 2,
        // Bob's answer after 10 s of ringing, Ann's of the transfer after 10 s.
        averageRingSeconds: 10,
        talkSeconds: 120 + 120,
        holdSeconds: 0,
        afterCallWorkSeconds: 0,
        averageHandleSeconds: 240,
        firstResponses: 0,
        averageFirstResponseSeconds: null,
      });
      expect(row(figures.berlin.edges, 'PHONE', 'OUT')!.metrics).toMatchObject({ created: 1, queued: 0, handled: 1, talkSeconds: 120, answerRate: null });
      expect(row(figures.berlin.edges, 'ONLINE', 'IN')!.metrics).toMatchObject({
        created: 1,
        queued: 1,
        handled: 1,
        answerRate: 1,
        serviceLevel: 1,
        averageSpeedOfAnswerSeconds: 10,
        talkSeconds: 600,
        firstResponses: 1,
        averageFirstResponseSeconds: 40,
      });
      expect(figures.berlin.edges).toHaveLength(3);
      expect(figures.berlin.rangeStart.toISOString()).toBe('2026-03-28T23:00:00.000Z');
      // Spring forward: the day has 23 hours.
      expect(figures.berlin.rangeEnd.toISOString()).toBe('2026-03-29T22:00:00.000Z');
    });

    it('counts Kolkata’s 29 March (+5:30, from 18:30Z): C1 with its hold and after-call work too', () => {
      const phone = row(figures.kolkata.edges, 'PHONE', 'IN')!.metrics;
      expect(phone).toMatchObject({
        created: 6,
        ivrEntered: 2,
        queued: 5,
        handled: 2,
        abandoned: 2,
        queueExits: 5,
        // C1 (20 s) and C4 (20 s) within 20 s.
        serviceLevelMet: 2,
        serviceLevel: 2 / 5,
        averageSpeedOfAnswerSeconds: (20 + 60) / 2,
        talkSeconds: 180 + 240,
        holdSeconds: 30,
        afterCallWorkSeconds: 60,
        averageHandleSeconds: (420 + 60) / 2,
        averageHoldSeconds: 15,
      });
      expect(figures.kolkata.rangeStart.toISOString()).toBe('2026-03-28T18:30:00.000Z');
    });

    it('cuts Berlin’s hours at local hours across the DST change: 00:00, 01:00, then 03:00 (02:00 never happened)', () => {
      const phoneIn = figures.berlinHours.edges.map((e) => e.node).filter((n) => n.channel === 'PHONE' && n.direction === 'IN');
      expect(phoneIn.map((n) => n.localStart)).toEqual(['2026-03-29T00:00', '2026-03-29T01:00', '2026-03-29T03:00']);
      const [midnight, one, three] = phoneIn as [(typeof phoneIn)[0], (typeof phoneIn)[0], (typeof phoneIn)[0]];
      expect(midnight.metrics).toMatchObject({ created: 4, queued: 3, handled: 0, abandoned: 2, rejected: 1 });
      expect(one.intervalStart.toISOString()).toBe('2026-03-29T00:00:00.000Z');
      expect(one.metrics).toMatchObject({ created: 1, queued: 1, handled: 1, talkSeconds: 0 });
      expect(three.intervalStart.toISOString()).toBe('2026-03-29T01:00:00.000Z');
      expect(three.intervalEnd.toISOString()).toBe('2026-03-29T02:00:00.000Z');
      expect(three.metrics).toMatchObject({ created: 0, handled: 0, transferred: 1, talkSeconds: 240 });
    });

    it('counts each agent’s time by state and their offers, by hand, in both zones', () => {
      const ann = figures.agents.edges.map((e) => e.node).find((n) => n.agentId === d.ann.id)!.metrics;
      // From 23:00Z: idle 1805 + 590 + 2310 + 140 + 405, ringing 5 + 15 + 10, on contact 600 + 120, Meal 1800.
      expect(ann).toMatchObject({
        idleSeconds: 5250,
        ringingSeconds: 30,
        onContactSeconds: 720,
        afterCallWorkSeconds: 0,
        breakSeconds: 1800,
        breaks: [{ reason: 'Meal', seconds: 1800 }],
        onlineSeconds: 7800,
        occupancy: 720 / 6000,
        offered: 3,
        answered: 2,
        answerRate: 2 / 3,
      });
      expect(ann.channels).toEqual([
        expect.objectContaining({ channel: 'PHONE', offered: 2, answered: 1, missed: 1, declined: 0, talkSeconds: 240, outbound: 1 }),
        expect.objectContaining({ channel: 'ONLINE', offered: 1, answered: 1, missed: 0, talkSeconds: 600 }),
      ]);
      const bob = figures.agents.edges.map((e) => e.node).find((n) => n.agentId === d.bob.id)!.metrics;
      expect(bob).toMatchObject({ idleSeconds: 7355, ringingSeconds: 25, onContactSeconds: 120, onlineSeconds: 7500, offered: 2, answered: 1 });
      // Kolkata's day starts at 18:30Z: Ann's 22:50-23:00 too (idle 350, ringing 10, on contact 180, ACW 60).
      const annK = figures.agentsKolkata.edges.map((e) => e.node).find((n) => n.agentId === d.ann.id)!.metrics;
      expect(annK).toMatchObject({ idleSeconds: 5600, ringingSeconds: 40, onContactSeconds: 900, afterCallWorkSeconds: 60, onlineSeconds: 8400, occupancy: 960 / 6600 });
      expect(annK.channels[0]).toMatchObject({ channel: 'PHONE', afterCallWorkSeconds: 60, talkSeconds: 420, answered: 2 });
    });

    it('splits per skill group and per local day (Kolkata 28-30 March: two days with figures)', () => {
      const nodes = figures.groups.edges.map((e) => e.node);
      const salesIn = nodes.filter((n) => n.skillGroupId === d.sales && n.direction === 'IN');
      // Kolkata: everything falls on its 29 March (04:20 to 06:40 local).
      expect(salesIn.map((n) => n.localStart)).toEqual(['2026-03-29T00:00']);
      expect(salesIn[0]!.metrics).toMatchObject({ queued: 5, handled: 2 });
      const noGroup = nodes.filter((n) => n.skillGroupId === null && n.channel === 'PHONE' && n.direction === 'IN');
      // Created and IVR figures belong to no group.
      expect(noGroup[0]!.metrics).toMatchObject({ created: 6, ivrEntered: 2, abandonedInIvr: 1 });
      expect(nodes.find((n) => n.skillGroupId === d.chat)!.metrics).toMatchObject({ handled: 1, firstResponses: 1 });
    });

    it('pages with cursors: the pages together are the whole report', async () => {
      const r = await request(t, d, { timeZone: 'Europe/Berlin', interval: 'HOUR' });
      const whole = await skillGroupReport(t.kefu.db, r, { first: 1000, after: null });
      const seen: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 50; i++) {
        const page = await skillGroupReport(t.kefu.db, r, { first: 2, after });
        seen.push(...page.edges.map((e) => e.cursor));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(seen).toEqual(whole.edges.map((e) => e.cursor));
      expect(seen.length).toBeGreaterThan(4);
    });

    it('counts an event seen twice once (as after a crash between its transaction and the checkpoint)', async () => {
      const tables = reportsProjection.tables;
      const rows = async () =>
        Promise.all(tables.map(async (table) => (await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(t.kefu.db)).rows.map((r) => JSON.stringify(r)).sort()));
      const before = await rows();
      const events = (await t.kefu.store.readAll()).filter((e) => e.metadata.instanceId === d.instanceId && reportsProjection.eventTypes.has(e.type));
      expect(events.length).toBeGreaterThan(60);
      const published: unknown[] = [];
      const sink = { publish: (_topic: string, message: unknown) => published.push(message) };
      // Again as one batch, then each event in a batch of its own.
      await t.kefu.db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, events, sink));
      await t.kefu.db.transaction().execute(async (trx) => {
        for (const e of events) await reportsProjection.applyBatch!(trx, [e], sink);
      });
      expect(await rows()).toEqual(before);
      expect(published).toEqual([]);
    });

    it('rebuilds from the first event to the same rows and the same reports', async () => {
      const tables = reportsProjection.tables;
      const snapshot = async () =>
        Promise.all(tables.map(async (table) => (await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(t.kefu.db)).rows.map((r) => JSON.stringify(r)).sort()));
      const before = await snapshot();
      // Bob's long idle is stored as spans of whole buckets (report_agent_spans), not a row per 15 minutes:
      // the figures above went through the spans' split at query time.
      const spans = await sql<{ counter: string }>`SELECT counter FROM report_agent_spans WHERE agent_id = ${d.bob.id}`.execute(t.kefu.db);
      expect(spans.rows.map((r) => r.counter)).toContain('idle_ms');
      await rebuildProjection({ store: t.kefu.store, db: t.kefu.db, projection: reportsProjection });
      expect(await snapshot()).toEqual(before);
      expect(JSON.stringify(await reportFigures(t, d))).toBe(JSON.stringify(figures));
    });
  });
}

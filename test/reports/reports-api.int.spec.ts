// Reports through the GraphQL API (issue 15): the instance's report settings, the live overview of today as
// a query and a subscription that follows a call as it is queued and answered, who may read what (agents only
// their own agentReport), and clear errors for bad input (time zone, dates, range, rows, threshold, cursor).
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { collect, settleSubscription, wsClient } from '../support/ws-client.ts';

interface Overview {
  date: string;
  timeZone: string;
  serviceLevelSeconds: number;
  slices: { channel: string; skillGroupId: string | null; totals: { queued: number; handled: number; answerRate: number | null }; intervals: { localStart: string; metrics: { queued: number } }[] }[];
}

const overviewFields = 'date timeZone serviceLevelSeconds slices { channel skillGroupId totals { queued handled answerRate } intervals { localStart metrics { queued } } }';

describe('reports through the API', () => {
  let t: TestKefu;
  let url: string;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let ann: { id: string; token: string };
  let sue: { id: string; token: string };
  let group: string;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Sue', login: 'sue', role: 'SUPERVISOR' }] });
    [ann, sue] = seed.agents as [(typeof seed.agents)[0], (typeof seed.agents)[0]];
    group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Support", channel: PHONE, ringTimeoutSeconds: 120 }) { id } }')).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann.id });
  }, 180_000);
  afterAll(async () => t?.close());

  it('keeps the instance’s time zone and service level; refuses unknown zones and thresholds', async () => {
    const settings = await t.ok<{ reportSettings: { timeZone: string; serviceLevelSeconds: number; serviceLevelThresholds: number[]; maxRangeDays: number } }>(
      sue.token,
      '{ reportSettings { timeZone serviceLevelSeconds serviceLevelThresholds maxRangeDays } }',
    );
    expect(settings.reportSettings).toMatchObject({ timeZone: 'UTC', serviceLevelSeconds: 20, maxRangeDays: 366 });
    expect(settings.reportSettings.serviceLevelThresholds).toContain(30);
    const configure = (token: string, input: Record<string, unknown>) => t.gql(token, 'mutation($i: ConfigureReportsInput!) { configureReports(input: $i) { timeZone serviceLevelSeconds } }', { i: input });
    for (const [input, field] of [
      [{ timeZone: 'Mars/Olympus_Mons' }, 'input.timeZone'],
      [{ timeZone: '+05:30' }, 'input.timeZone'],
      [{ timeZone: '' }, 'input.timeZone'],
      [{ serviceLevelSeconds: 17 }, 'input.serviceLevelSeconds'],
    ] as const) {
      const r = await configure(seed.adminKey, input);
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect((await configure(sue.token, { timeZone: 'Asia/Kolkata' })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await configure(seed.adminKey, { timeZone: 'asia/shanghai', serviceLevelSeconds: 30 })).data).toEqual({ configureReports: { timeZone: 'Asia/Shanghai', serviceLevelSeconds: 30 } });
    // A field left out keeps its value.
    expect((await configure(seed.adminKey, { timeZone: 'Asia/Kolkata' })).data).toEqual({ configureReports: { timeZone: 'Asia/Kolkata', serviceLevelSeconds: 30 } });
  });

  it('counts the day rows again in the new zone in the background: the runner works the recount job through', async () => {
    // Each zone change above started a recount (report_day_recounts); only the runner's steps end it.
    const state = async () => ({
      zone: (await t.kefu.db.selectFrom('report_settings').select('time_zone').where('instance_id', '=', seed.instanceId).executeTakeFirst())?.time_zone,
      recounts: (await sql<{ n: number }>`SELECT count(*)::int AS n FROM report_day_recounts WHERE instance_id = ${seed.instanceId}`.execute(t.kefu.db)).rows[0]!.n,
    });
    expect(await until(state, (s) => s.zone === 'Asia/Kolkata' && s.recounts === 0)).toEqual({ zone: 'Asia/Kolkata', recounts: 0 });
    // Its status through the API: the last recount, finished, in the last zone; supervisors only, not agents.
    const recount = '{ reportRecount { state timeZone daysDone daysTotal startedAt finishedAt } }';
    const status = await t.ok<{ reportRecount: { state: string; timeZone: string; daysDone: number; daysTotal: number; startedAt: string; finishedAt: string | null } }>(sue.token, recount);
    expect(status.reportRecount).toMatchObject({ state: 'FINISHED', timeZone: 'Asia/Kolkata' });
    expect(status.reportRecount.daysDone).toBe(status.reportRecount.daysTotal);
    expect(Date.parse(status.reportRecount.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(status.reportRecount.startedAt));
    expect((await t.gql(ann.token, recount)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('follows a call live in today’s overview (query and subscription), in the instance’s zone', async () => {
    const client = wsClient(url, sue.token);
    const live = collect<{ reportOverviewChanged: Overview }>(client, `subscription { reportOverviewChanged(interval: MINUTES_30) { ${overviewFields} } }`);
    await until(async () => live.received.length, (n) => n >= 1);
    await settleSubscription();
    const first = live.received[0]!.reportOverviewChanged;
    expect(first.timeZone).toBe('Asia/Kolkata');
    expect(first.serviceLevelSeconds).toBe(30);
    // Today in Kolkata, from its midnight: half hours at :00 and :30 local, the last one holding now.
    const todayKolkata = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Kolkata' }).format(new Date());
    expect(first.date).toBe(todayKolkata);
    const phone = first.slices.find((s) => s.channel === 'PHONE' && s.skillGroupId === null)!;
    expect(phone.intervals[0]!.localStart).toBe(`${todayKolkata}T00:00`);
    expect(phone.intervals.every((i) => /T\d{2}:(00|30)$/.test(i.localStart))).toBe(true);

    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const call = (
      await t.ok<{ createContact: { id: string } }>(seed.adminKey, 'mutation($g: ID!) { createContact(input: { channel: PHONE, customer: { kind: PHONE, id: "+8613800000009" }, skillGroupId: $g }) { id } }', { g: group })
    ).createContact.id;
    const queued = await until(
      async () => live.received.map((m) => m.reportOverviewChanged.slices.find((s) => s.channel === 'PHONE' && s.skillGroupId === group)),
      (slices) => slices.some((s) => s?.totals.queued === 1),
    );
    expect(queued.find((s) => s?.totals.queued === 1)!.totals.handled).toBe(0);
    const offer = await until(
      async () => (await t.ok<{ contact: { offer: { offerId: string } | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { offer { offerId } } }', { id: call })).contact.offer,
      (o) => o !== null,
    );
    await t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { id } }', { c: call, o: offer!.offerId });
    await until(
      async () => live.received.map((m) => m.reportOverviewChanged.slices.find((s) => s.channel === 'PHONE' && s.skillGroupId === null)),
      (slices) => slices.some((s) => s?.totals.handled === 1 && s.totals.answerRate === 1),
    );
    live.dispose();
    await client.dispose();
    const now = await t.ok<{ reportOverview: Overview }>(sue.token, `{ reportOverview(interval: MINUTES_15, channel: PHONE) { ${overviewFields} } }`);
    expect(now.reportOverview.slices.map((s) => [s.channel, s.skillGroupId])).toEqual([
      ['PHONE', null],
      ['PHONE', group],
    ]);
    expect(now.reportOverview.slices[0]!.totals).toEqual({ queued: 1, handled: 1, answerRate: 1 });
    expect(now.reportOverview.slices[0]!.intervals.reduce((n, i) => n + i.metrics.queued, 0)).toBe(1);
    await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: call });
  });

  it('lets agents read only their own agentReport; contact reports are for supervisors, admins and API keys', async () => {
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Kolkata' }).format(new Date());
    const input = { from: today, to: today, interval: 'DAY' };
    const agentReport = `query($i: ReportInput!) { agentReport(input: $i) { timeZone edges { node { agentId agent { name } localStart metrics { onlineSeconds answered channels { channel answered } } } } } }`;
    type AgentRows = { agentReport: { timeZone: string; edges: { node: { agentId: string; agent: { name: string }; localStart: string; metrics: { onlineSeconds: number; answered: number } } }[] } };
    const own = await t.ok<AgentRows>(ann.token, agentReport, { i: { ...input, agentIds: [sue.id] } });
    expect(own.agentReport.timeZone).toBe('Asia/Kolkata');
    expect(own.agentReport.edges.map((e) => e.node.agentId)).toEqual([ann.id]);
    // Ann is available still: her time online counts up to now.
    expect(own.agentReport.edges[0]!.node).toMatchObject({ agent: { name: 'Ann' }, localStart: `${today}T00:00`, metrics: { answered: 1 } });
    expect(own.agentReport.edges[0]!.node.metrics.onlineSeconds).toBeGreaterThan(0);
    const all = await t.ok<AgentRows>(sue.token, agentReport, { i: input });
    expect(all.agentReport.edges.map((e) => e.node.agentId)).toContain(ann.id);
    const contactReport = 'query($i: ReportInput!) { instanceReport(input: $i) { edges { node { channel direction metrics { queued handled } } } } }';
    expect((await t.gql(ann.token, contactReport, { i: input })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql(ann.token, `{ reportOverview { date } }`)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const rows = await t.ok<{ instanceReport: { edges: { node: { channel: string; direction: string; metrics: { queued: number; handled: number } } }[] } }>(seed.adminKey, contactReport, { i: input });
    expect(rows.instanceReport.edges.map((e) => e.node)).toEqual([{ channel: 'PHONE', direction: 'IN', metrics: { queued: 1, handled: 1 } }]);
  });

  it('shows another instance none of these figures', async () => {
    const other = await seedInstance(t, { name: 'Other' });
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Kolkata' }).format(new Date());
    const input = { from: today, to: today, interval: 'TOTAL', timeZone: 'Asia/Kolkata' };
    type Reports = { instanceReport: { edges: unknown[] }; skillGroupReport: { edges: unknown[] }; agentReport: { edges: unknown[] } };
    const reports = 'query($i: ReportInput!) { instanceReport(input: $i) { edges { cursor } } skillGroupReport(input: $i) { edges { cursor } } agentReport(input: $i) { edges { cursor } } }';
    // This instance has rows for the range; the other none.
    const mine = await t.ok<Reports>(seed.adminKey, reports, { i: input });
    expect([mine.instanceReport.edges.length, mine.skillGroupReport.edges.length, mine.agentReport.edges.length].every((n) => n > 0)).toBe(true);
    const rows = await t.ok<Reports>(other.adminKey, reports, { i: input });
    expect(rows).toEqual({ instanceReport: { edges: [] }, skillGroupReport: { edges: [] }, agentReport: { edges: [] } });
    // Asking for this instance's group or agent by id changes nothing.
    const named = await t.ok<{ skillGroupReport: { edges: unknown[] }; agentReport: { edges: unknown[] } }>(
      other.adminKey,
      'query($i: ReportInput!) { skillGroupReport(input: $i) { edges { cursor } } agentReport(input: $i) { edges { cursor } } }',
      { i: { ...input, skillGroupIds: [group], agentIds: [ann.id] } },
    );
    expect(named).toEqual({ skillGroupReport: { edges: [] }, agentReport: { edges: [] } });
    const overview = await t.ok<{ reportOverview: Overview }>(other.adminKey, `{ reportOverview { ${overviewFields} } }`);
    expect(overview.reportOverview.timeZone).toBe('UTC');
    expect(overview.reportOverview.slices.every((x) => x.totals.queued === 0 && x.skillGroupId === null)).toBe(true);
    expect((await t.ok<{ reportOverview: Overview }>(other.adminKey, `query($g: ID!) { reportOverview(skillGroupId: $g) { ${overviewFields} } }`, { g: group })).reportOverview.slices).toEqual([]);
  });

  it('answers bad report input with BAD_USER_INPUT naming the field', async () => {
    const query = 'query($i: ReportInput!, $after: String) { skillGroupReport(input: $i, after: $after) { edges { cursor } } }';
    const cases: [Record<string, unknown>, string, string | null][] = [
      [{ from: '2026-13-01', to: '2026-12-31', interval: 'DAY' }, 'input.from', null],
      [{ from: '2026-02-30', to: '2026-03-01', interval: 'DAY' }, 'input.from', null],
      [{ from: '2026-03-02', to: '2026-03-01', interval: 'DAY' }, 'input.to', null],
      [{ from: '2025-01-01', to: '2026-03-01', interval: 'MONTH' }, 'input.to', null],
      [{ from: '2026-01-01', to: '2026-04-30', interval: 'HOUR' }, 'input.interval', null],
      [{ from: '2026-03-01', to: '2026-03-01', interval: 'DAY', timeZone: 'Europe/Atlantis' }, 'input.timeZone', null],
      [{ from: '2026-03-01', to: '2026-03-01', interval: 'DAY', serviceLevelSeconds: 21 }, 'input.serviceLevelSeconds', null],
      [{ from: '2026-03-01', to: '2026-03-01', interval: 'DAY' }, 'after', 'not-a-cursor'],
    ];
    for (const [input, field, after] of cases) {
      const r = await t.gql(sue.token, query, { i: input, after });
      expect({ input, extensions: r.errors?.[0]?.extensions }).toMatchObject({ input, extensions: { code: 'BAD_USER_INPUT', field } });
    }
  });
});

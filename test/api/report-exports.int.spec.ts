// CSV exports of the reports (issue 15) over HTTP, parsed back with csv-parse: the rows the report
// functions give (every metric column, rates as fractions, the interval in the report's zone), contacts
// created through the API counted, the reports' own checks on bad parameters (BAD_USER_INPUT naming the
// parameter), roles (an agent exports only their own agent report; the contact reports and the overview are
// refused to agents), and another instance's contacts never counted.
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentReport, instanceReport, resolveReportRequest, skillGroupReport, type ContactReportRow } from '../../src/projections/reports/report-queries.ts';
import { defaultReportLimits } from '../../src/api/resolvers/reports.ts';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

type Seeded = Awaited<ReturnType<typeof seedInstance>>;
type Row = Record<string, string>;

describe('CSV exports of the reports (postgres)', () => {
  let t: TestKefu;
  let a: Seeded & { salesId: string; integrationKey: string };
  let b: Seeded & { integrationKey: string; groupId: string };
  const today = new Date().toISOString().slice(0, 10);

  async function get(path: string, token: string | null) {
    const res = await t.kefu.app.inject({ method: 'GET', url: path, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.statusCode, headers: res.headers, text: res.body, raw: res.rawPayload };
  }
  async function csv(path: string, token: string): Promise<Row[]> {
    const r = await get(path, token);
    expect(r.status, r.text).toBe(200);
    expect([...r.raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    return parse(r.text, { bom: true, columns: true, record_delimiter: '\r\n' }) as Row[];
  }
  const phoneContact = (key: string, group: string, n: number) =>
    t.ok<{ createContact: { id: string } }>(key, 'mutation($g: ID!, $c: String!) { createContact(input: { channel: PHONE, customer: { kind: PHONE, id: $c }, skillGroupId: $g }) { id } }', {
      g: group,
      c: `+86138000000${n}`,
    });

  const createdToday = async (instanceId: string) => {
    const request = await resolveReportRequest(t.kefu.db, instanceId, { from: today, to: today, interval: 'DAY', timeZone: 'UTC' }, defaultReportLimits);
    const report = await instanceReport(t.kefu.db, request, { first: 100, after: null });
    return report.edges.filter((e) => e.node.channel === 'PHONE' && e.node.direction === 'IN').reduce((n, e) => n + e.node.metrics.created, 0);
  };

  beforeAll(async () => {
    t = await startTestKefu({ database: 'postgres' });
    const seeded = await seedInstance(t, {
      name: 'Reports',
      agents: [
        { name: 'Ann', login: 'ann' },
        { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
      ],
    });
    const key = await t.ok<{ createApiKey: { secret: string } }>(seeded.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    const sales = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "Sales, \\"East\\"", channel: PHONE, strategy: LONGEST_IDLE }) { id } }');
    a = { ...seeded, salesId: sales.createSkillGroup.id, integrationKey: key.createApiKey.secret };
    await t.ok(seeded.agents[0]!.token, 'mutation { setPresence(input: { presence: BREAK, reason: "Meal" }) { id } }');

    const other = await seedInstance(t, { name: 'Other' });
    const otherKey = await t.ok<{ createApiKey: { secret: string } }>(other.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    const otherGroup = await t.ok<{ createSkillGroup: { id: string } }>(other.adminKey, 'mutation { createSkillGroup(input: { name: "Other", channel: PHONE, strategy: LONGEST_IDLE }) { id } }');
    b = { ...other, integrationKey: otherKey.createApiKey.secret, groupId: otherGroup.createSkillGroup.id };

    for (let n = 1; n <= 3; n++) await phoneContact(a.integrationKey, a.salesId, n);
    for (let n = 4; n <= 8; n++) await phoneContact(b.integrationKey, b.groupId, n);
    await until(() => createdToday(a.instanceId), (n) => n === 3);
    await until(() => createdToday(b.instanceId), (n) => n === 5);
  });
  afterAll(async () => t?.close());

  it('exports the instance report as its rows: every metric, rates as fractions, intervals in the zone', async () => {
    const rows = await csv(`/exports/instance-report.csv?from=${today}&to=${today}&interval=DAY&timeZone=Asia/Shanghai`, a.adminKey);
    const request = await resolveReportRequest(t.kefu.db, a.instanceId, { from: today, to: today, interval: 'DAY', timeZone: 'Asia/Shanghai' }, defaultReportLimits);
    const report = await instanceReport(t.kefu.db, request, { first: 1000, after: null });
    expect(rows.length).toBe(report.edges.length);
    report.edges.forEach(({ node }, i) => {
      const row = rows[i]!;
      expect(row).toMatchObject({ channel: node.channel, direction: node.direction, localStart: node.localStart, timeZone: 'Asia/Shanghai' });
      expect(row.intervalStart).toMatch(/\+08:00$/);
      expect(Date.parse(row.intervalStart!)).toBe(node.intervalStart.getTime());
      expect(Date.parse(row.intervalEnd!)).toBe(node.intervalEnd.getTime());
      for (const [field, value] of Object.entries(node.metrics)) {
        if (value === null) expect(row[field], field).toBe('');
        else expect(Number(row[field]), field).toBeCloseTo(value, 3);
      }
    });
    // Today in Shanghai may have started on yesterday's UTC date: count the three calls over the whole export.
    const utc = await csv(`/exports/instance-report.csv?from=${today}&to=${today}&interval=DAY&timeZone=UTC&channel=PHONE&direction=IN`, a.adminKey);
    expect(utc.reduce((n, r) => n + Number(r.created), 0)).toBe(3);
    expect(utc.every((r) => r.channel === 'PHONE' && r.direction === 'IN')).toBe(true);
  });

  it('exports the skill group report with the group named (quotes and comma intact) and filtered by group', async () => {
    const rows = await csv(`/exports/skill-group-report.csv?from=${today}&to=${today}&interval=TOTAL&timeZone=UTC&skillGroupIds=${a.salesId}`, a.adminKey);
    const request = await resolveReportRequest(t.kefu.db, a.instanceId, { from: today, to: today, interval: 'TOTAL', timeZone: 'UTC', skillGroupIds: [a.salesId] }, defaultReportLimits);
    const report = await skillGroupReport(t.kefu.db, request, { first: 1000, after: null });
    expect(rows.map((r) => [r.channel, r.direction, r.skillGroupId, Number(r.queued)])).toEqual(
      report.edges.map(({ node }: { node: ContactReportRow }) => [node.channel, node.direction, node.skillGroupId ?? '', node.metrics.queued]),
    );
    const sales = rows.filter((r) => r.skillGroupId === a.salesId);
    expect(sales.length).toBeGreaterThan(0);
    expect(sales.every((r) => r.skillGroup === 'Sales, "East"')).toBe(true);
  });

  it("lets an agent export only their own agent report; a supervisor gets everyone's", async () => {
    const [ann, sue] = a.agents as [Seeded['agents'][0], Seeded['agents'][0]];
    const query = `from=${today}&to=${today}&interval=DAY&timeZone=UTC`;
    const own = await csv(`/exports/agent-report.csv?${query}&agentIds=${sue.id}`, ann.token);
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((r) => r.agentId === ann.id && r.agent === 'Ann')).toBe(true);
    // Ann's break (Meal) is time on break, in its reason's column.
    expect(Number(own[0]!.breakSeconds)).toBeGreaterThan(0);
    expect(Number(own[0]!['break: Meal'])).toBeCloseTo(Number(own[0]!.breakSeconds), 3);
    const request = await resolveReportRequest(t.kefu.db, a.instanceId, { from: today, to: today, interval: 'DAY', timeZone: 'UTC' }, defaultReportLimits);
    const all = await agentReport(t.kefu.db, request, { first: 1000, after: null });
    const bySupervisor = await csv(`/exports/agent-report.csv?${query}`, sue.token);
    expect(bySupervisor.map((r) => r.agentId)).toEqual(all.edges.map((e) => e.node.agentId));

    for (const name of ['instance-report', 'skill-group-report']) {
      const refused = await get(`/exports/${name}.csv?${query}`, ann.token);
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.text).error.code).toBe('FORBIDDEN');
    }
    expect((await get('/exports/overview.csv', ann.token)).status).toBe(403);
    expect((await get(`/exports/instance-report.csv?${query}`, operatorToken)).status).toBe(403);
    expect((await get(`/exports/instance-report.csv?${query}`, null)).status).toBe(401);
  });

  it('exports today’s overview per slice and interval', async () => {
    const rows = await csv('/exports/overview.csv?interval=MINUTES_15&channel=PHONE', a.adminKey);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.channel === 'PHONE')).toBe(true);
    const whole = rows.filter((r) => r.skillGroupId === '');
    expect(whole.every((r) => r.skillGroup === '(all)')).toBe(true);
    expect(whole.reduce((n, r) => n + Number(r.created), 0)).toBe(3);
  });

  it("never counts another instance's contacts", async () => {
    const query = `from=${today}&to=${today}&interval=TOTAL&timeZone=UTC&channel=PHONE&direction=IN`;
    const mine = await csv(`/exports/instance-report.csv?${query}`, a.adminKey);
    const theirs = await csv(`/exports/instance-report.csv?${query}`, b.adminKey);
    expect(mine.reduce((n, r) => n + Number(r.created), 0)).toBe(3);
    expect(theirs.reduce((n, r) => n + Number(r.created), 0)).toBe(5);
    // Their group's id names nothing in this instance.
    const foreign = await csv(`/exports/skill-group-report.csv?${query}&skillGroupIds=${b.groupId}`, a.adminKey);
    expect(foreign.reduce((n, r) => n + Number(r.created), 0)).toBe(0);
  });

  it('refuses bad parameters with BAD_USER_INPUT naming the parameter', async () => {
    const base = `to=${today}&interval=DAY`;
    const cases: [string, string][] = [
      [`from=2026-13-01&${base}`, 'from'],
      [`from=${today}&to=2026-02-30&interval=DAY`, 'to'],
      [`from=${today}&to=${today}&interval=YEAR`, 'interval'],
      [`from=${today}&${base}&timeZone=Mars/Olympus_Mons`, 'timeZone'],
      [`from=2000-01-01&to=2026-01-01&interval=DAY`, 'to'],
      [`from=${today}&${base}&serviceLevelSeconds=7`, 'serviceLevelSeconds'],
      [`from=${today}&${base}&serviceLevelSeconds=-1`, 'serviceLevelSeconds'],
      [`from=${today}&${base}&channel=FAX`, 'channel'],
      [`from=${today}&${base}&skillGroupIds=x,y`, 'skillGroupIds.0'],
      // More hourly rows than KEFU_REPORT_MAX_ROWS allows.
      [`from=2025-01-01&to=2025-12-31&interval=HOUR`, 'interval'],
      [`from=${today}&${base}&skillgroups=1`, 'skillgroups'],
      [`from=${today}&${base}&channel=PHONE&channel=AV`, 'channel'],
      [base, 'from'],
    ];
    for (const [query, field] of cases) {
      const r = await get(`/exports/instance-report.csv?${query}`, a.adminKey);
      expect(r.status, query).toBe(400);
      expect(JSON.parse(r.text).error, query).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const overview = await get('/exports/overview.csv?interval=MINUTES_20', a.adminKey);
    expect(overview.status).toBe(400);
    expect(JSON.parse(overview.text).error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'interval' });
  });
});

// The supervisor dashboard (/demo/supervisor) in headless Chromium: a supervisor signs in, the page loads
// uPlot from Kefu itself (no request leaves Kefu's origin), draws today's overview as charts and follows
// it live (a call queued through the API shows in the figures), and the agent and skill-group monitors
// change as an agent goes available and then on break. The export links download CSV with the supervisor's
// token. Under CI a missing Chromium fails the test (it never skips).
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

const CHROMIUM = process.env.KEFU_TEST_CHROMIUM ?? '/usr/bin/chromium';

function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (Debian package chromium, or set KEFU_TEST_CHROMIUM); the dashboard's browser test needs it`);
}

describe('supervisor dashboard in Chromium', () => {
  let t: TestKefu;
  let origin: string;
  let browser: Browser;
  let s: Awaited<ReturnType<typeof seedInstance>> & { groupId: string; integrationKey: string };
  const requests: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    requireChromium();
    t = await startTestKefu({ listen: true });
    origin = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    const seeded = await seedInstance(t, {
      name: 'Dashboard',
      agents: [
        { name: 'Ann', login: 'ann' },
        { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
      ],
    });
    const group = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE, strategy: LONGEST_IDLE }) { id } }');
    await t.ok(seeded.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group.createSkillGroup.id, a: seeded.agents[0]!.id });
    const key = await t.ok<{ createApiKey: { secret: string } }>(seeded.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    s = { ...seeded, groupId: group.createSkillGroup.id, integrationKey: key.createApiKey.secret };
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function signIn(): Promise<Page> {
    const page = await browser.newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${origin}/demo/supervisor`);
    await page.fill('#instanceId', s.instanceId);
    await page.fill('#login', 'sue');
    await page.fill('#password', 'password-123');
    await page.click('#loginButton');
    await page.waitForSelector('#dashboard:not([hidden])', { timeout: 60_000 });
    return page;
  }

  const agentRow = (page: Page, presence: string) => page.waitForSelector(`#agents tr[data-agent-id="${s.agents[0]!.id}"][data-presence="${presence}"]`, { timeout: 60_000 });
  const groupCell = (page: Page, column: number) => page.locator(`#groups tr[data-skill-group-id="${s.groupId}"] td`).nth(column);

  it('shows the agent and skill-group monitors live: an agent goes available, then on break', async () => {
    const page = await signIn();
    await agentRow(page, 'OFFLINE');
    await expect.poll(() => groupCell(page, 1).textContent(), { timeout: 60_000 }).toBe('0');

    await t.ok(s.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await agentRow(page, 'AVAILABLE');
    await expect.poll(() => groupCell(page, 1).textContent(), { timeout: 60_000 }).toBe('1');
    await expect.poll(() => groupCell(page, 2).textContent(), { timeout: 60_000 }).toBe('1');

    await t.ok(s.agents[0]!.token, 'mutation { setPresence(input: { presence: BREAK, reason: "Meal" }) { id } }');
    const onBreak = await agentRow(page, 'BREAK');
    expect(await onBreak.$eval('td:nth-child(2)', (td) => td.textContent)).toBe('BREAK (Meal)');
    // Online (a break is online time), but not free.
    await expect.poll(() => groupCell(page, 2).textContent(), { timeout: 60_000 }).toBe('0');
    expect(await groupCell(page, 1).textContent()).toBe('1');
    await page.close();
  });

  it("draws today's overview as charts and follows it as a call queues", async () => {
    const page = await signIn();
    // uPlot draws on canvases inside .uplot, one per chart.
    await page.waitForSelector('#volumeChart .uplot canvas', { timeout: 60_000 });
    await page.waitForSelector('#ratesChart .uplot canvas', { timeout: 60_000 });
    const queuedTile = page.locator('#tiles .tile', { hasText: 'Queued' }).locator('.v');
    const before = Number(await queuedTile.textContent());

    // A phone contact queued by the integration: the overview subscription brings the new figures.
    await t.ok(s.integrationKey, 'mutation($g: ID!) { createContact(input: { channel: PHONE, customer: { kind: PHONE, id: "+8613800000001" }, skillGroupId: $g }) { id } }', { g: s.groupId });
    await expect.poll(async () => Number(await queuedTile.textContent()), { timeout: 60_000 }).toBe(before + 1);
    // The chart has the point: its data holds the interval with the queued contact.
    const plotted = await page.evaluate(() => {
      const overview = (globalThis as unknown as { kefuSupervisor: { overview: { slices: { channel: string; skillGroupId: string | null; intervals: { metrics: { queued: number } }[] }[] } } }).kefuSupervisor.overview;
      const phone = overview.slices.find((x) => x.channel === 'PHONE' && x.skillGroupId === null);
      return phone?.intervals.reduce((n, r) => n + r.metrics.queued, 0) ?? 0;
    });
    expect(plotted).toBe(before + 1);
    // The per-group table lists Sales.
    await page.waitForSelector('#slices td:text("Sales")', { timeout: 60_000 });
    await page.close();
  });

  it('links to the CSV exports with the signed-in token, and loads nothing from outside Kefu', async () => {
    const page = await signIn();
    const href = await page.getAttribute('#exportLinks a[data-export="call-records"]', 'href');
    expect(href).toMatch(/^\/exports\/call-records\.csv\?/);
    const download = await page.evaluate(async (url) => {
      const res = await fetch(url);
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { status: res.status, type: res.headers.get('content-type'), head: [...bytes.slice(0, 3)], text: new TextDecoder().decode(bytes.slice(3, 40)) };
    }, href!);
    expect(download).toMatchObject({ status: 200, type: 'text/csv; charset=utf-8', head: [0xef, 0xbb, 0xbf] });
    expect(download.text.startsWith('contactId,callId,')).toBe(true);
    // Every other link downloads too (records of today, today's reports in the instance's zone, the overview).
    for (const name of ['chat-records', 'instance-report', 'skill-group-report', 'agent-report', 'overview']) {
      const link = await page.getAttribute(`#exportLinks a[data-export="${name}"]`, 'href');
      expect(link).toMatch(new RegExp(`^/exports/${name}\\.csv\\?`));
      const got = await page.evaluate(async (url) => {
        const res = await fetch(url);
        return { status: res.status, head: [...new Uint8Array(await res.arrayBuffer()).slice(0, 3)] };
      }, link!);
      expect(got, name).toEqual({ status: 200, head: [0xef, 0xbb, 0xbf] });
    }
    await page.close();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((u) => !u.startsWith(origin) && !u.startsWith(origin.replace('http', 'ws')))).toEqual([]);
    expect(requests).toContain(`${origin}/demo/vendor/uplot/uPlot.esm.js`);
    expect(pageErrors).toEqual([]);
  });
});

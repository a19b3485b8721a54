// GraphiQL served by Kefu works offline: headless Chromium with every request that leaves 127.0.0.1 blocked
// (and counted) loads /graphiql, renders GraphiQL, runs a query with a token from the Headers tab and shows
// the answer, and runs a subscription over graphql-ws (GraphiQL's own client, the token from the Headers tab
// in connection_init) that shows the current state and then an event. Under CI a missing Chromium fails the test (it never skips).
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

const CHROMIUM = process.env.KEFU_TEST_CHROMIUM ?? '/usr/bin/chromium';

describe('GraphiQL at /graphiql', () => {
  let t: TestKefu;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (Debian package chromium, or set KEFU_TEST_CHROMIUM)`);
    t = await startTestKefu({ database: 'pglite', listen: true, env: { HOST: '127.0.0.1' } });
    base = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** A browser context in which every request that leaves 127.0.0.1 is blocked (and listed), and a page on it. */
  async function offlinePage() {
    const context = await browser.newContext();
    const outside: string[] = [];
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1' || url.protocol === 'data:') return route.continue();
      outside.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    return { context, page, outside, pageErrors };
  }

  /** Opens GraphiQL and types an operation and a token into its editors, as a user would. */
  async function typeOperation(page: Page, operation: string, token: string) {
    await page.goto(`${base}/graphiql`);
    // GraphiQL's editors and its run button are there.
    await page.locator('.graphiql-container').waitFor({ timeout: 60_000 });
    await page.locator('.graphiql-execute-button').waitFor();
    await page.locator('.graphiql-query-editor .CodeMirror').first().click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(operation);
    await page.getByText('Headers', { exact: true }).click();
    await page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror').click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));
  }

  it('renders from Kefu alone and runs a query', async () => {
    const seed = await seedInstance(t, { name: 'Offline Co', agents: [{ name: 'Ann', login: 'ann' }] });
    const { context, page, outside, pageErrors } = await offlinePage();
    await typeOperation(page, 'query Me { me { __typename ... on AgentPrincipal { agent { name } } } }', seed.agents[0]!.token);
    const sent: (string | undefined)[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/graphql') && r.method() === 'POST' && (r.postData() ?? '').includes('query Me')) sent.push(r.headers().authorization);
    });
    await page.locator('.graphiql-execute-button').click();
    const result = page.locator('.result-window');
    await expect.poll(async () => result.innerText(), { timeout: 60_000 }).toContain('"name": "Ann"');
    expect(await result.innerText()).toContain('"__typename": "AgentPrincipal"');
    expect(sent).toEqual([`Bearer ${seed.agents[0]!.token}`]);

    expect(outside).toEqual([]);
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('runs a subscription over graphql-ws with the Headers tab\'s token and shows each event', async () => {
    const seed = await seedInstance(t, { name: 'Live Co', agents: [{ name: 'Bea', login: 'bea' }] });
    const bea = seed.agents[0]!;
    const { context, page, outside, pageErrors } = await offlinePage();
    const sockets: string[] = [];
    const sentFrames: string[] = [];
    page.on('websocket', (ws) => {
      sockets.push(ws.url());
      ws.on('framesent', (f) => sentFrames.push(String(f.payload)));
    });
    await typeOperation(page, 'subscription Watch { agentStatusChanged { agent { name } presence } }', bea.token);
    await page.locator('.graphiql-execute-button').click();

    // The current state first (over the WebSocket: the page is not reloaded, no HTTP request runs it)...
    const result = page.locator('.result-window');
    await expect.poll(async () => result.innerText(), { timeout: 60_000 }).toContain('"presence": "OFFLINE"');
    expect(await result.innerText()).toContain('"name": "Bea"');
    // ...then the change a mutation made elsewhere.
    await t.ok(bea.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await expect.poll(async () => result.innerText(), { timeout: 60_000 }).toContain('"presence": "AVAILABLE"');

    expect(sockets.length).toBeGreaterThan(0);
    for (const url of sockets) expect(url).toBe(`${base.replace('http:', 'ws:')}/graphql`);
    // The Headers tab's Authorization went in connection_init.
    const init = sentFrames.map((f) => JSON.parse(f) as { type: string; payload?: Record<string, unknown> }).find((f) => f.type === 'connection_init');
    expect(init?.payload?.Authorization).toBe(`Bearer ${bea.token}`);
    expect(outside).toEqual([]);
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('references only its own files: no CDN, no other host', async () => {
    const res = await fetch(`${base}/graphiql`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const refs = [...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(5);
    for (const ref of refs) {
      expect(ref, ref).toMatch(/^\/graphiql\//);
      const asset = await fetch(`${base}${ref}`);
      expect(asset.status, ref).toBe(200);
      await asset.arrayBuffer();
    }
    // No absolute URL anywhere in the page or its script: they use the page's own origin.
    const script = await (await fetch(`${base}/graphiql/graphiql-page.js`)).text();
    for (const text of [html, script]) expect(text).not.toMatch(/(?:https?|wss?):\/\/|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
    expect(script).toContain('subscriptionUrl');
  });

  it('serves only its own fixed files', async () => {
    const css = await fetch(`${base}/graphiql/assets/graphiql.min.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    for (const name of ['..%2F..%2Fpackage.json', 'index.js', 'toString', '__proto__']) {
      expect((await fetch(`${base}/graphiql/assets/${name}`)).status).toBe(404);
    }
  });
});

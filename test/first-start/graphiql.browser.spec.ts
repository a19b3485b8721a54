// GraphiQL served by Kefu works offline: headless Chromium with every request that leaves 127.0.0.1 blocked
// (and counted) loads /graphiql, renders GraphiQL, runs a query with a token from the Headers tab and shows
// the answer. Under CI a missing Chromium fails the test (it never skips).
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
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

  it('renders from Kefu alone and runs a query', async () => {
    const seed = await seedInstance(t, { name: 'Offline Co', agents: [{ name: 'Ann', login: 'ann' }] });
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
    await page.goto(`${base}/graphiql`);
    // GraphiQL's editors and its run button are there.
    await page.locator('.graphiql-container').waitFor({ timeout: 60_000 });
    await page.locator('.graphiql-execute-button').waitFor();

    // The query and the agent's token, typed into GraphiQL's editors as a user would.
    await page.locator('.graphiql-query-editor .CodeMirror').first().click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText('query Me { me { __typename ... on AgentPrincipal { agent { name } } } }');
    await page.getByText('Headers', { exact: true }).click();
    const headersEditor = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
    await headersEditor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${seed.agents[0]!.token}` }));
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

  it('serves only its own fixed files', async () => {
    const css = await fetch(`${base}/graphiql/assets/graphiql.min.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    for (const name of ['..%2F..%2Fpackage.json', 'index.js', 'toString', '__proto__']) {
      expect((await fetch(`${base}/graphiql/assets/${name}`)).status).toBe(404);
    }
  });
});

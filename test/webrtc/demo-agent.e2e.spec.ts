// The demo agent page (/demo/agent) in headless Chromium with a fake microphone as the agent's softphone:
// log in, go available, connect the softphone, a SIPp trunk call comes in, answer it with a click, audio flows
// both ways, the customer hangs up, wrap-up, end wrap-up. Then a page that closes mid-call: the caller gets
// a BYE. Under CI a missing Chromium or SIPp fails the test (it never skips).
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { requireSipp, scenario, sipp, portAllocator } from '../calls/sipp.ts';
import { analyseWav } from '../calls/wav-analysis.ts';
import { NUMBER, setUpPhoneInstance, type PhoneInstance } from '../calls/phone-setup.ts';

// This file's ports: SIP 25262, RTP 33500-33999, SIPp 27200-27399.
const SIP_PORT = 25262;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
const CHROMIUM = process.env.KEFU_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** A SIPp signalling port and a media port of its own for each SIPp run. */
const ports = portAllocator(27200);
const pressOne = { step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } };

function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (Debian package chromium, or set KEFU_TEST_CHROMIUM); the browser tests need it`);
}

interface CallRecord {
  endStatus: string | null;
  endedBy: string | null;
  endedAt: string | null;
  legs: { agentId: string; result: string | null; device: string }[];
  recording: { id: string; status: string } | null;
}

describe('the demo agent page in Chromium as the agent\'s softphone', () => {
  let t: TestKefu;
  let s: PhoneInstance;
  let baseUrl: string;
  let browser: Browser;

  beforeAll(async () => {
    requireSipp();
    requireChromium();
    t = await startTestKefu({
      listen: true,
      env: { KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_SIP_PUBLIC_ADDRESS: '127.0.0.1', KEFU_RTP_PORT_MIN: '33500', KEFU_RTP_PORT_MAX: '33999', HOST: '127.0.0.1' },
    });
    baseUrl = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    s = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Bea'], tag: `demo${process.pid}` });
    await t.ok(s.adminKey, 'mutation($id: ID!) { updateSkillGroup(input: { id: $id, wrapUpSeconds: 120 }) { id } }', { id: s.groupId });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const bea = () => s.agents[0]!;

  async function endedRecord(caller: string): Promise<CallRecord> {
    const found = await until(
      async () => {
        const r = await t.ok<{ callRecords: { edges: { node: CallRecord }[] } }>(
          s.adminKey,
          'query($n: String!) { callRecords(first: 5, filter: { number: $n }) { edges { node { endStatus endedBy endedAt legs { agentId result device } recording { id status } } } } }',
          { n: caller },
        );
        return r.callRecords.edges[0]?.node ?? null;
      },
      (r) => r !== null && r.endedAt !== null && r.recording?.status === 'READY',
      20_000,
    );
    return found!;
  }

  /** Opens the page, logs Bea in, makes her available and connects her softphone. */
  async function openWorkspace(): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (err) => console.error('page error:', err));
    await page.goto(`${baseUrl}/demo/agent`);
    await page.fill('#instanceId', s.instanceId);
    await page.fill('#login', 'bea');
    await page.fill('#password', 'password-123');
    await page.click('#loginButton');
    await page.waitForSelector('#workspace:not([hidden])');
    await page.click('#presenceAvailable');
    await page.waitForFunction("document.getElementById('presence').textContent === 'AVAILABLE'");
    await page.click('#connectSoftphone');
    await page.waitForFunction("document.getElementById('softphoneState').textContent === 'connected'", null, { timeout: 15_000 });
    return page;
  }

  it('serves the page and its script with the right content types, without auth', async () => {
    const pageRes = await fetch(`${baseUrl}/demo/agent`);
    expect(pageRes.status).toBe(200);
    expect(pageRes.headers.get('content-type')).toMatch(/^text\/html/);
    const js = await fetch(`${baseUrl}/demo/agent/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
  });

  it('logs in, connects the softphone, answers a trunk call with audio both ways, and ends wrap-up', async () => {
    const page = await openWorkspace();
    const caller = '13800000201';
    const p = ports();
    // The customer presses 1, speaks 7 s of G.711 A-law, stays 3 s more, and hangs up.
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: [pressOne, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 10_000 } }], ENDING: [{ step: 'customer-hangs-up.xml' }] }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    await page.click('.call[data-state="RINGING"] button.answer', { timeout: 30_000 });
    await page.waitForSelector('.call[data-state="CONNECTED"]');
    // Counted until both legs have passed 100 packets each way (about 2 s of talk; a busy machine takes longer).
    await until(
      async () => t.kefu.phone!.media.legStats(),
      (all) =>
        all.some((l) => l.id.startsWith('softphone ') && l.stats.packetsIn > 100 && l.stats.packetsOut > 100) &&
        all.some((l) => l.id.startsWith(`customer ${caller}`) && l.stats.packetsIn > 100),
      6000,
    ).catch(() => undefined);

    // Kefu received RTP from the browser's leg and sent it the caller's; the browser got packets.
    const stats = t.kefu.phone!.media.legStats();
    const browserLeg = stats.find((l) => l.id.startsWith('softphone '))!;
    const customerLeg = stats.find((l) => l.id.startsWith(`customer ${caller}`))!;
    expect(browserLeg.stats.packetsIn).toBeGreaterThan(100);
    expect(browserLeg.stats.packetsOut).toBeGreaterThan(100);
    expect(customerLeg.stats.packetsIn).toBeGreaterThan(100);
    // In the page (a string: this file is type-checked without the DOM library).
    const inbound = await page.evaluate<number>(`(async () => {
      let packets = 0;
      (await window.kefuDemo.pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') packets += r.packetsReceived ?? 0;
      });
      return packets;
    })()`);
    expect(inbound).toBeGreaterThan(100);

    const c = await customer.done;
    expect(c.code, c.output).toBe(0);
    // The customer hung up: the call ends on the page and wrap-up starts.
    await page.waitForSelector('.call[data-state="ENDED"]');
    await page.waitForSelector('#wrapUp:not([hidden])', { timeout: 15_000 });
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'CUSTOMER' });
    expect(record.legs).toEqual([expect.objectContaining({ agentId: bea().id, result: 'ANSWERED', device: 'WEBRTC' })]);
    const wav = analyseWav(`${t.recordingsDir}/${s.instanceId}/${record.recording!.id}.wav`);
    expect(wav.channels).toBe(2);
    expect(wav.activeShare[0]).toBeGreaterThan(0.3);
    // Chromium's fake microphone beeps now and then: some of the agent's channel carries it.
    expect(wav.rms[1]).toBeGreaterThan(50);

    await page.click('#endWrapUp');
    await page.waitForSelector('#wrapUp[hidden]', { state: 'attached' });
    const status = await t.ok<{ agentMonitor: { wrapUpUntil: string | null; presence: string }[] }>(bea().token, '{ agentMonitor { presence wrapUpUntil } }');
    expect(status.agentMonitor[0]).toMatchObject({ presence: 'AVAILABLE' });
    const wrap = status.agentMonitor[0]!.wrapUpUntil;
    expect(wrap === null || Date.parse(wrap) <= Date.now()).toBe(true);
    await page.close();
  });

  it('hangs up on the caller when the page closes mid-call (no silent line)', async () => {
    const page = await openWorkspace();
    const caller = '13800000202';
    const p = ports();
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: [pressOne], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    await page.click('.call[data-state="RINGING"] button.answer', { timeout: 30_000 });
    await page.waitForSelector('.call[data-state="CONNECTED"]');
    await new Promise((r) => setTimeout(r, 1000));
    const closedAt = Date.now();
    await page.close();
    const c = await customer.done;
    expect(c.code, c.output).toBe(0);
    expect(Date.now() - closedAt).toBeLessThan(8000);
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'agentDeviceLost', endedBy: 'SYSTEM' });
    await t.ok(bea().token, 'mutation { endWrapUp { id } }');
    await t.ok(bea().token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
  });
});

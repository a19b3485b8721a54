// Customers' audio/video calls (issue 14) between two headless Chromium contexts with fake camera and
// microphone: the customer on a page of the web channel's origin, the agent on Kefu's origin, each with a
// plain RTCPeerConnection signalled through the GraphQL API (startAvCall / acceptAvCall, complete ICE).
// getStats() shows audio packets and decoded video frames increasing on both sides; the customer's camera off
// (no video sent) and on again (frames decoded again at the agent); the customer closing the tab ends the call
// (CUSTOMER_DISCONNECTED) after the grace period; both recordings are WebM files with VP8 and Opus that
// ffprobe reads. Under CI a missing Chromium fails the test (it never skips).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { avRecordingPath } from '../../src/adapters/storage/recording-storage.ts';
import { taggedPng } from '../support/chat-images.ts';

const CHROMIUM = process.env.KEFU_TEST_CHROMIUM ?? '/usr/bin/chromium';

interface Stats {
  audioPackets: number;
  videoPackets: number;
  framesDecoded: number;
  connection: string;
}

/**
 * Put in each page (plain browser JavaScript, the test's tsconfig has no DOM types): `call` gets camera and
 * microphone, offers once ICE gathering is complete, applies Kefu's answer; `stats` sums what the peer
 * connection received; `camera` turns the video sender off (replaceTrack(null): nothing is sent) or on.
 */
const pageHelpers = `window.avTest = {
  async call({ url, token, query, field, input, video }) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    const pc = new RTCPeerConnection({ iceServers: [] });
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    this.pc = pc;
    this.stream = stream;
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    });
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
      body: JSON.stringify({ query, variables: { input: { ...input, sdp: pc.localDescription.sdp } } }),
    });
    const body = await res.json();
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    const answer = body.data[field];
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    return { contactId: answer.contactId, videoCodec: answer.videoCodec };
  },
  async stats() {
    const out = { audioPackets: 0, videoPackets: 0, framesDecoded: 0, connection: this.pc.connectionState };
    (await this.pc.getStats()).forEach((r) => {
      if (r.type !== 'inbound-rtp') return;
      if (r.kind === 'audio') out.audioPackets += r.packetsReceived || 0;
      if (r.kind === 'video') {
        out.videoPackets += r.packetsReceived || 0;
        out.framesDecoded += r.framesDecoded || 0;
      }
    });
    return out;
  },
  async camera(on) {
    const sender = this.pc.getSenders().find((s) => s.track ? s.track.kind === 'video' : true);
    await sender.replaceTrack(on ? this.stream.getVideoTracks()[0] : null);
  },
};`;

function callFromPage(page: Page, o: { url: string; token: string; query: string; field: string; input: Record<string, unknown>; video: boolean }): Promise<{ contactId: string; videoCodec: string | null }> {
  return page.evaluate(`window.avTest.call(${JSON.stringify(o)})`);
}

function statsOf(page: Page): Promise<Stats> {
  return page.evaluate('window.avTest.stats()');
}

function setCamera(page: Page, on: boolean): Promise<void> {
  return page.evaluate(`window.avTest.camera(${on})`);
}

describe('customer audio/video calls in Chromium', () => {
  let t: TestKefu;
  let browser: Browser;
  let site: Server;
  let siteOrigin: string;
  let kefuUrl: string;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let avGroup: string;
  let channelKey: string;
  const ann = () => seed.agents[0]!;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (Debian package chromium, or set KEFU_TEST_CHROMIUM)`);
    site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Shop</title><p>Shop'));
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteOrigin = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
    t = await startTestKefu({ listen: true, env: { HOST: '127.0.0.1', KEFU_AV_PUBLIC_ADDRESS: '127.0.0.1', KEFU_AV_BIND: '127.0.0.1', KEFU_AV_GRACE_MS: '8000', KEFU_AV_CONNECT_TIMEOUT_MS: '90000' } });
    kefuUrl = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    avGroup = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
        input: { name: 'Video', channel: 'AV', ringTimeoutSeconds: 60 },
      })
    ).createSkillGroup.id;
    const chatGroup = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Chat', channel: 'ONLINE' } })
    ).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: avGroup, a: ann().id });
    channelKey = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: [siteOrigin], skillGroupId: chatGroup },
      })
    ).createWebChannel.webChannel.publicKey;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic'],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await new Promise((resolve) => site?.close(resolve));
  });

  it('relays audio and video both ways between two browsers, camera off and on, the tab closed; WebM per participant', async () => {
    const customerPage = await (await browser.newContext()).newPage();
    const agentPage = await (await browser.newContext()).newPage();
    for (const p of [customerPage, agentPage]) p.on('pageerror', (err) => console.error('page error:', err));
    await customerPage.goto(siteOrigin);
    await agentPage.goto(`${kefuUrl}/healthz`);
    for (const p of [customerPage, agentPage]) await p.evaluate(pageHelpers);

    // The customer's session, from the page of the channel's origin.
    const token = await customerPage.evaluate<string>(`(async () => {
      const res = await fetch(${JSON.stringify(`${kefuUrl}/graphql`)}, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', variables: { input: { channelKey: ${JSON.stringify(channelKey)}, name: 'Cathy' } } }),
      });
      return (await res.json()).data.startCustomerSession.token;
    })()`);
    const started = await callFromPage(customerPage, {
      url: `${kefuUrl}/graphql`,
      token,
      query: 'mutation($input: StartAvCallInput!) { startAvCall(input: $input) { contactId sdp videoCodec } }',
      field: 'startAvCall',
      input: { clientCallId: randomUUID(), skillGroupId: avGroup },
      video: true,
    });
    expect(started.videoCodec).toMatch(/VP8|H264/);
    const contactId = started.contactId;

    await t.ok(ann().token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }),
      (r) => r.contact.status === 'OFFERED',
      60_000,
    );
    await callFromPage(agentPage, {
      url: `${kefuUrl}/graphql`,
      token: ann().token,
      query: 'mutation($input: AcceptAvCallInput!) { acceptAvCall(input: $input) { contactId sdp videoCodec } }',
      field: 'acceptAvCall',
      input: { contactId, offerId: offered.contact.offer!.offerId },
      video: true,
    });

    // Both sides: audio packets and decoded video frames, increasing.
    const flowing = async (page: Page, after: Stats | null = null) =>
      until(
        () => statsOf(page),
        (s) => s.audioPackets > (after?.audioPackets ?? 0) + 50 && s.framesDecoded > (after?.framesDecoded ?? 0) + 10,
        90_000,
      );
    const c1 = await flowing(customerPage);
    const a1 = await flowing(agentPage);
    expect(c1.connection).toBe('connected');
    expect(a1.connection).toBe('connected');
    await flowing(customerPage, c1);
    const a2 = await flowing(agentPage, a1);

    // The customer's camera off: the agent decodes no new frames while audio goes on; on again: frames again.
    await setCamera(customerPage, false);
    await new Promise((r) => setTimeout(r, 1500));
    const off1 = await statsOf(agentPage);
    await new Promise((r) => setTimeout(r, 2500));
    const off2 = await statsOf(agentPage);
    expect(off2.framesDecoded - off1.framesDecoded).toBeLessThanOrEqual(2);
    expect(off2.audioPackets).toBeGreaterThan(off1.audioPackets + 20);
    expect(off2.audioPackets).toBeGreaterThan(a2.audioPackets);
    await setCamera(customerPage, true);
    await flowing(agentPage, off2);

    // The customer closes the tab: the call ends as CUSTOMER_DISCONNECTED once the grace period is over.
    await customerPage.close();
    const ended = await until(
      () => t.ok<{ contact: { status: string; endReason: string | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status endReason } }', { id: contactId }),
      (r) => r.contact.status === 'ENDED',
      60_000,
    );
    expect(ended.contact.endReason).toBe('customerDisconnected');
    const rows = await until(
      () => t.kefu.db.selectFrom('call_recordings').selectAll().where('contact_id', '=', contactId).execute(),
      (r) => r.length === 2 && r.every((x) => x.status === 'READY'),
      60_000,
    );
    for (const row of rows) {
      const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', avRecordingPath(t.recordingsDir, seed.instanceId, row.id)], { encoding: 'utf8' })) as {
        streams: { codec_type: string; codec_name: string }[];
        format: { duration?: string };
      };
      expect(probe.streams.map((s) => s.codec_type).sort()).toEqual(['audio', 'video']);
      expect(probe.streams.find((s) => s.codec_type === 'audio')!.codec_name).toBe('opus');
      expect(Number(probe.format.duration)).toBeGreaterThan(2);
    }
    await agentPage.close();
  });

  it('/demo/agent takes an AV call with video elements, chats beside it and hangs up', async () => {
    const customerPage = await (await browser.newContext()).newPage();
    const agentPage = await (await browser.newContext()).newPage();
    for (const p of [customerPage, agentPage]) p.on('pageerror', (err) => console.error('page error:', err));
    await customerPage.goto(siteOrigin);
    await customerPage.evaluate(pageHelpers);

    await agentPage.goto(`${kefuUrl}/demo/agent`);
    await agentPage.fill('#instanceId', seed.instanceId);
    await agentPage.fill('#login', 'ann');
    await agentPage.fill('#password', 'password-123');
    await agentPage.click('#loginButton');
    await agentPage.waitForSelector('#workspace:not([hidden])');
    await agentPage.click('#presenceAvailable');
    await agentPage.waitForFunction("document.getElementById('presence').textContent === 'AVAILABLE'", null, { timeout: 30_000 });

    const token = await customerPage.evaluate<string>(`(async () => {
      const res = await fetch(${JSON.stringify(`${kefuUrl}/graphql`)}, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', variables: { input: { channelKey: ${JSON.stringify(channelKey)}, name: 'Dora' } } }),
      });
      return (await res.json()).data.startCustomerSession.token;
    })()`);
    const { contactId } = await callFromPage(customerPage, {
      url: `${kefuUrl}/graphql`,
      token,
      query: 'mutation($input: StartAvCallInput!) { startAvCall(input: $input) { contactId sdp videoCodec } }',
      field: 'startAvCall',
      input: { clientCallId: randomUUID(), skillGroupId: avGroup },
      video: true,
    });

    await agentPage.click('.offer[data-state="OFFERED"] button.accept-av', { timeout: 60_000 });
    await agentPage.waitForSelector(`.chat[data-contact-id="${contactId}"] video.av-remote`, { timeout: 30_000 });
    // The agent's page decodes the customer's video (its remote <video> has a picture) and the customer the agent's.
    await agentPage.waitForFunction(`(() => { const v = document.querySelector('video.av-remote'); return v && v.videoWidth > 0; })()`, null, { timeout: 60_000 });
    const c1 = await until(() => statsOf(customerPage), (st) => st.framesDecoded > 10 && st.audioPackets > 50, 60_000);
    await until(() => statsOf(customerPage), (st) => st.framesDecoded > c1.framesDecoded + 10, 60_000);

    // A message from the customer during the call shows in the card beside the video.
    await customerPage.evaluate(`fetch(${JSON.stringify(`${kefuUrl}/graphql`)}, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + ${JSON.stringify(token)} },
      body: JSON.stringify({ query: 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', variables: { input: { contactId: ${JSON.stringify(contactId)}, message: { clientMessageId: ${JSON.stringify(randomUUID())}, text: 'Here is the broken hinge' } } } }),
    })`);
    await agentPage.waitForSelector(`.chat[data-contact-id="${contactId}"] .chat-msg.customer:has-text("Here is the broken hinge")`, { timeout: 30_000 });

    // The agent hangs up: the call ends, the page's media is released.
    await agentPage.click(`.chat[data-contact-id="${contactId}"] button.chat-end`);
    const ended = await until(
      () => t.ok<{ contact: { status: string; endedBy: string | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status endedBy } }', { id: contactId }),
      (r) => r.contact.status === 'ENDED',
      30_000,
    );
    expect(ended.contact.endedBy).toBe('AGENT');
    await agentPage.waitForSelector(`.chat[data-contact-id="${contactId}"] video.av-remote`, { state: 'detached', timeout: 30_000 });
    await customerPage.close();
    await agentPage.close();
  });

  it('the widget: video button, the visual menu, the call with the agent, a message during it, hang up', async () => {
    // A second AV group: the menu then offers a choice.
    const billing = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Billing', channel: 'AV' } })
    ).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: billing, a: ann().id });
    await t.ok(ann().token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const shop = `<!doctype html><title>Shop</title><p>Shop</p><script src="${kefuUrl}/widget.js" data-channel-key="${channelKey}" data-av="audio,video" data-locale="en"></script>`;
    site.removeAllListeners('request');
    site.on('request', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(shop));

    const customerPage = await (await browser.newContext()).newPage();
    const agentPage = await (await browser.newContext()).newPage();
    for (const p of [customerPage, agentPage]) p.on('pageerror', (err) => console.error('page error:', err));
    await agentPage.goto(`${kefuUrl}/healthz`);
    await agentPage.evaluate(pageHelpers);
    await customerPage.goto(siteOrigin);
    await customerPage.click('button.launcher');
    await customerPage.click('button.av-video', { timeout: 30_000 });
    // The visual menu: one entry per AV group with an agent available.
    await customerPage.waitForSelector('.av-menu button.av-entry >> nth=1');
    expect(await customerPage.locator('.av-menu button.av-entry strong').allTextContents()).toEqual(['Billing', 'Video']);
    await customerPage.click(`.av-menu button.av-entry[data-skill-group-id="${avGroup}"]`);

    const contactId = await until(
      () => customerPage.evaluate<string | null>('window.Kefu.conversation && window.Kefu.conversation.contactId'),
      (id) => id !== null,
      60_000,
    );
    const offered = await until(
      () => t.ok<{ contact: { status: string; channel: string; skillGroup: { id: string } | null; offer: { offerId: string } | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status channel skillGroup { id } offer { offerId } } }', { id: contactId! }),
      (r) => r.contact.status === 'OFFERED',
      60_000,
    );
    expect(offered.contact).toMatchObject({ channel: 'AV', skillGroup: { id: avGroup } });
    await callFromPage(agentPage, {
      url: `${kefuUrl}/graphql`,
      token: ann().token,
      query: 'mutation($input: AcceptAvCallInput!) { acceptAvCall(input: $input) { contactId sdp videoCodec } }',
      field: 'acceptAvCall',
      input: { contactId, offerId: offered.contact.offer!.offerId },
      video: true,
    });
    // Pictures both ways: the widget's <video> shows the agent, the agent decodes the customer's frames.
    await customerPage.waitForFunction(`(() => { const host = document.querySelector('kefu-chat-widget'); const v = host && host.shadowRoot.querySelector('video.av-remote'); return Boolean(v && v.videoWidth > 0); })()`, null, { timeout: 60_000 });
    await until(() => statsOf(agentPage), (st) => st.framesDecoded > 10 && st.audioPackets > 50, 60_000);

    // Typed in the widget during the call: it goes into the call's conversation.
    await customerPage.fill('textarea.input', 'The screen flickers when I open the lid');
    await customerPage.keyboard.press('Enter');
    await until(
      () => t.ok<{ chatTranscript: { messages: { sender: string; text: string }[] } }>(ann().token, 'query($c: ID!) { chatTranscript(contactId: $c) { messages { sender text } } }', { c: contactId }),
      (r) => r.chatTranscript.messages.some((m) => m.sender === 'CUSTOMER' && m.text === 'The screen flickers when I open the lid'),
      30_000,
    );

    // The customer hangs up in the widget.
    await customerPage.click('button.av-hang-up');
    const ended = await until(
      () => t.ok<{ contact: { status: string; endedBy: string | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status endedBy } }', { id: contactId }),
      (r) => r.contact.status === 'ENDED',
      30_000,
    );
    expect(ended.contact.endedBy).toBe('CUSTOMER');
    await customerPage.waitForSelector('.av-stage video.av-remote', { state: 'detached', timeout: 30_000 });
    await customerPage.close();
    await agentPage.close();
  });

  it("the channel's AV settings: buttons without data-av (narrowed by it), the configured menu with icons, an audio call turned into a video call with /demo/agent", async () => {
    // An icon uploaded to Kefu, a second channel whose settings name the buttons and the menu.
    const form = new FormData();
    form.append('file', new Blob([Buffer.from(taggedPng(32, 32))], { type: 'image/png' }), 'repairs.png');
    const iconRes = await fetch(`${kefuUrl}/av-icons`, { method: 'POST', headers: { authorization: `Bearer ${seed.adminKey}` }, body: form });
    expect(iconRes.status).toBe(201);
    const icon = (await iconRes.json()) as { id: string; url: string };
    const billing = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Billing desk', channel: 'AV' } })
    ).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: billing, a: ann().id });
    const chatGroup = (await t.ok<{ skillGroups: { id: string }[] }>(seed.adminKey, 'query { skillGroups(channel: ONLINE) { id } }')).skillGroups[0]!.id;
    const key = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: {
          name: 'Repairs shop',
          allowedOrigins: [siteOrigin],
          skillGroupId: chatGroup,
          av: {
            kinds: ['AUDIO', 'VIDEO'],
            menu: [
              { number: 1, label: 'Repairs', description: 'Show us what broke', skillGroupId: avGroup, iconFileId: icon.id },
              { number: 2, label: 'Billing questions', skillGroupId: billing, kinds: ['AUDIO'] },
            ],
          },
        },
      })
    ).createWebChannel.webChannel.publicKey;
    site.removeAllListeners('request');
    site.on('request', (req, res) => {
      // ?av=audio: the page narrows the channel's buttons to voice.
      const av = new URL(req.url ?? '/', siteOrigin).searchParams.get('av');
      const tag = `<script src="${kefuUrl}/widget.js" data-channel-key="${key}" data-locale="en"${av === null ? '' : ` data-av="${av}"`}></script>`;
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>Shop</title><p>Shop</p>${tag}`);
    });

    const agentPage = await (await browser.newContext()).newPage();
    agentPage.on('pageerror', (err) => console.error('page error:', err));
    await agentPage.goto(`${kefuUrl}/demo/agent`);
    await agentPage.fill('#instanceId', seed.instanceId);
    await agentPage.fill('#login', 'ann');
    await agentPage.fill('#password', 'password-123');
    await agentPage.click('#loginButton');
    await agentPage.waitForSelector('#workspace:not([hidden])');
    await agentPage.click('#presenceAvailable');
    await agentPage.waitForFunction("document.getElementById('presence').textContent === 'AVAILABLE'", null, { timeout: 30_000 });

    const narrowed = await (await browser.newContext()).newPage();
    await narrowed.goto(`${siteOrigin}/?av=audio`);
    await narrowed.click('button.launcher');
    await narrowed.waitForSelector('button.av-audio', { timeout: 30_000 });
    expect(await narrowed.locator('button.av-video').count()).toBe(0);
    await narrowed.close();

    const customerPage = await (await browser.newContext()).newPage();
    customerPage.on('pageerror', (err) => console.error('page error:', err));
    await customerPage.goto(siteOrigin);
    await customerPage.click('button.launcher');
    await customerPage.waitForSelector('button.av-video', { timeout: 30_000 });
    await customerPage.click('button.av-audio');
    // The configured menu in order, with the uploaded icon loaded from Kefu.
    await customerPage.waitForSelector('.av-menu button.av-entry >> nth=1');
    expect(await customerPage.locator('.av-menu button.av-entry strong').allTextContents()).toEqual(['Repairs', 'Billing questions']);
    await customerPage.waitForFunction(`(() => { const host = document.querySelector('kefu-chat-widget'); const img = host && host.shadowRoot.querySelector('img.av-entry-icon'); return Boolean(img && img.complete && img.naturalWidth === 32); })()`, null, { timeout: 30_000 });
    await customerPage.click('.av-menu button.av-entry[data-menu-entry="1"]');

    await agentPage.click('.offer[data-state="OFFERED"] button.accept-av', { timeout: 60_000 });
    const contactId = await until(
      () => customerPage.evaluate<string | null>('window.Kefu.conversation && window.Kefu.conversation.contactId'),
      (id) => id !== null,
      60_000,
    );
    await agentPage.waitForSelector(`.chat[data-contact-id="${contactId}"] video.av-remote`, { timeout: 30_000 });
    await until(
      () => t.ok<{ contact: { status: string; skillGroup: { id: string } | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status skillGroup { id } } }', { id: contactId! }),
      (r) => r.contact.status === 'CONNECTED' && r.contact.skillGroup?.id === avGroup,
      60_000,
    );
    // An audio call: the agent's page has no picture of the customer.
    const agentPicture = `(() => { const v = document.querySelector('.chat[data-contact-id="${contactId}"] video.av-remote'); return v ? v.videoWidth : -1; })()`;
    await new Promise((r) => setTimeout(r, 3000));
    expect(await agentPage.evaluate<number>(agentPicture)).toBe(0);

    // The customer turns video on: the widget renegotiates, /demo/agent follows; pictures both ways.
    await customerPage.click('button.av-video-on', { timeout: 30_000 });
    await agentPage.waitForFunction(`${agentPicture} > 0`, null, { timeout: 90_000 });
    await customerPage.waitForFunction(`(() => { const host = document.querySelector('kefu-chat-widget'); const v = host && host.shadowRoot.querySelector('video.av-remote'); return Boolean(v && v.videoWidth > 0); })()`, null, { timeout: 90_000 });
    // Both sides' new recordings (with video) are under way, and get a few seconds.
    const recordings = () => t.kefu.db.selectFrom('call_recordings').selectAll().where('contact_id', '=', contactId!).orderBy('started_at').execute();
    await until(recordings, (r) => r.length === 4 && r.filter((x) => x.status === 'RECORDING').length === 2, 90_000);
    await new Promise((r) => setTimeout(r, 3000));

    await customerPage.click('button.av-hang-up');
    await until(
      () => t.ok<{ contact: { status: string } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status } }', { id: contactId! }),
      (r) => r.contact.status === 'ENDED',
      30_000,
    );
    // Each side's recording went on with video: an audio WebM, then one with VP8 or H264 video.
    const rows = await until(recordings, (r) => r.length === 4 && r.every((x) => x.status === 'READY'), 90_000);
    const kinds = (id: string) =>
      (JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', avRecordingPath(t.recordingsDir, seed.instanceId, id)], { encoding: 'utf8' })) as { streams: { codec_type: string }[] }).streams
        .map((st) => st.codec_type)
        .sort();
    for (const who of [null, ann().id]) expect(rows.filter((r) => r.agent_id === who).map((r) => kinds(r.id))).toEqual([['audio'], ['audio', 'video']]);
    await customerPage.close();
    await agentPage.close();
  });
});

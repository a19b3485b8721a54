// Customers' audio/video calls (issue 14) end to end through the public API, with werift peer connections
// standing in for the customer's and the agents' browsers (real DTLS-SRTP, real VP8 and Opus from ffmpeg):
// bad offers start nothing; a call is queued, offered, taken with acceptAvCall and relayed both ways with
// keyframe requests passed through; messages go both ways during the call; a transfer to a second agent
// keeps the customer's media going; the customer's browser vanishing ends the call (CUSTOMER_DISCONNECTED)
// after the grace period; each participant's recording is a WebM that ffprobe reads, served with Range.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { avTestEnv, requireFfmpeg } from '../support/av.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { fromPage, codeOf } from '../support/chat.ts';
import { until } from '../support/until.ts';
import { avRecordingPath } from '../../src/adapters/storage/recording-storage.ts';
import { WeriftAvBrowser } from './werift-av-browser.ts';
import { taggedPng } from '../support/chat-images.ts';

const origin = 'https://shop.example';
const START = 'mutation($input: StartAvCallInput!) { startAvCall(input: $input) { contactId sdp videoCodec } }';
const ACCEPT = 'mutation($input: AcceptAvCallInput!) { acceptAvCall(input: $input) { contactId sdp videoCodec } }';
const CONTACT = 'query($id: ID!) { contact(id: $id) { status endReason endedBy agent { id } offer { offerId agents { id } } } }';

interface ContactView {
  status: string;
  endReason: string | null;
  endedBy: string | null;
  agent: { id: string } | null;
  offer: { offerId: string; agents: { id: string }[] } | null;
}

describe('customer audio/video calls (werift browsers)', () => {
  let t: TestKefu;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let avGroup: string;
  let channelKey: string;
  const browsers: WeriftAvBrowser[] = [];
  const ann = () => seed.agents[0]!;
  const bob = () => seed.agents[1]!;

  const { gql, ok, customerToken: sessionOn } = fromPage(() => t, origin);
  const browser = (video = true) => {
    const b = new WeriftAvBrowser(video);
    browsers.push(b);
    return b;
  };
  const customerToken = () => sessionOn(channelKey);
  const contact = async (id: string) => (await ok<{ contact: ContactView }>(seed.adminKey, CONTACT, { id })).contact;
  const avContacts = async () =>
    (await ok<{ contacts: { edges: { node: { id: string } }[] } }>(seed.adminKey, 'query { contacts(filter: { channel: AV }, first: 100) { edges { node { id } } } }')).contacts.edges.length;

  /** The agent becomes available, waits for the call's offer to them, and takes it with their browser. */
  async function takes(agent: { id: string; token: string }, contactId: string, b: WeriftAvBrowser): Promise<void> {
    await ok(agent.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(
      () => contact(contactId),
      (c) => c.status === 'OFFERED' && (c.offer?.agents ?? []).some((a) => a.id === agent.id),
      60_000,
    );
    // acceptOffer cannot take an AV call (it would leave the agent without media).
    const plain = await gql(agent.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered.offer!.offerId });
    expect(codeOf(plain)).toBe('BAD_USER_INPUT');
    const r = await ok<{ acceptAvCall: { sdp: string; videoCodec: string } }>(agent.token, ACCEPT, { input: { contactId, offerId: offered.offer!.offerId, sdp: await b.offer() } });
    expect(r.acceptAvCall.videoCodec).toBe('VP8');
    await b.answer(r.acceptAvCall.sdp);
    await b.startMedia();
  }

  beforeAll(async () => {
    requireFfmpeg();
    t = await startTestKefu({
      database: 'pglite',
      env: avTestEnv({ KEFU_AV_MAX_PER_ADDRESS: '2', KEFU_AV_ALLOWED_CANDIDATES: '127.0.0.0/8,192.168.0.0/16,172.16.0.0/12,10.0.0.0/8' }),
    });
    seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }, { name: 'Cid', login: 'cid' }] });
    avGroup = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
        input: { name: 'Video support', channel: 'AV', ringTimeoutSeconds: 30 },
      })
    ).createSkillGroup.id;
    const chatGroup = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
        input: { name: 'Chat', channel: 'ONLINE', maxConcurrency: 3 },
      })
    ).createSkillGroup.id;
    for (const a of [ann(), bob()]) await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: avGroup, a: a.id });
    channelKey = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: chatGroup },
      })
    ).createWebChannel.webChannel.publicKey;
  }, 180_000);

  afterAll(async () => {
    for (const b of browsers) await b.close().catch(() => undefined);
    await t?.close();
  });

  it('hands browsers the visual menu (the AV skill groups) and ICE servers', async () => {
    const token = await customerToken();
    const r = await ok<{ avCallOptions: { enabled: boolean; iceServers: unknown[]; menu: { skillGroupId: string; title: string }[] } }>(
      token,
      'query { avCallOptions { enabled iceServers { urls } menu { skillGroupId title agentsOnline } } }',
    );
    expect(r.avCallOptions).toMatchObject({ enabled: true, iceServers: [], menu: [{ skillGroupId: avGroup, title: 'Video support' }] });
  });

  it('refuses bad offers with a clear error and starts nothing', async () => {
    const token = await customerToken();
    const good = await browser().offer();
    const start = (sdp: string) => gql(token, START, { input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp } });
    const cases: [string, string, RegExp][] = [
      ['no Opus', good.replace(/opus\/48000/gi, 'G722/8000'), /Opus/],
      ['too many m-lines', good + good.slice(good.indexOf('m=video')) + good.slice(good.indexOf('m=video')), /m-lines/],
      ['oversized', good + `a=x-pad:${'x'.repeat(21_000)}\r\n`, /characters/],
      ['a candidate to a disallowed address', good.replace(/^(a=candidate:\S+ \d \w+ \d+ )127\.0\.0\.1 /m, '$18.8.8.8 '), /not allowed/],
      ['no candidates (trickle)', good.replace(/^a=candidate:.*\r\n/gm, ''), /ICE candidates/],
      ['not SDP at all', 'hello, this is not an offer', /SDP/],
    ];
    for (const [what, sdp, message] of cases) {
      const r = await start(sdp);
      expect(codeOf(r), what).toBe('BAD_USER_INPUT');
      expect(r.errors![0]!.message, what).toMatch(message);
    }
    expect(await avContacts()).toBe(0);
    // An agent cannot take an AV call without their media; a customer token cannot accept.
    expect(codeOf(await gql(token, ACCEPT, { input: { contactId: randomUUID(), offerId: randomUUID(), sdp: good } }))).toBe('FORBIDDEN');
  });

  it('relays a video call both ways, with messages, a transfer to a second agent and the customer vanishing; one WebM per participant', async () => {
    const token = await customerToken();
    const customer = browser();
    const started = await ok<{ startAvCall: { contactId: string; sdp: string; videoCodec: string } }>(token, START, {
      input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp: await customer.offer(), visitor: { pageUrl: 'https://shop.example/help' } },
    });
    const contactId = started.startAvCall.contactId;
    expect(started.startAvCall.videoCodec).toBe('VP8');
    await customer.answer(started.startAvCall.sdp);
    await customer.startMedia();
    expect((await contact(contactId)).status).toMatch(/QUEUED|OFFERED/);

    // A second call by the same visitor while this one is open: one at a time.
    const again = await gql(token, START, { input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp: await browser().offer() } });
    expect(codeOf(again)).toBe('RATE_LIMITED');

    const annBrowser = browser();
    await takes(ann(), contactId, annBrowser);
    expect(await contact(contactId)).toMatchObject({ status: 'CONNECTED', agent: { id: ann().id } });
    // Media both ways: audio packets and video packets arrive on each side.
    await until(async () => ({ c: { ...customer.received }, a: { ...annBrowser.received } }), (r) => r.c.audio > 50 && r.c.video > 20 && r.a.audio > 50 && r.a.video > 20, 60_000);
    // A keyframe request from the agent's browser reaches the customer's video sender.
    const pliBefore = customer.pliReceived;
    await until(() => annBrowser.sendPli(), (sent) => sent);
    await until(async () => customer.pliReceived, (n) => n > pliBefore, 20_000);

    // Messages during the call, both ways, in the call's conversation.
    const say = (who: string, text: string) => ok(who, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId, message: { clientMessageId: randomUUID(), text } } });
    await say(token, 'Can you see the broken part? 📷');
    await say(ann().token, 'Yes, hold it closer please');
    // A picture during the call: uploaded to the call's conversation and sent there.
    const form = new FormData();
    form.append('contactId', contactId);
    form.append('file', new Blob([Buffer.from(taggedPng(64, 48))], { type: 'image/png' }), 'part.png');
    const request = new Request('http://kefu.test/chat/uploads', { method: 'POST', body: form });
    const uploaded = await t.kefu.app.inject({
      method: 'POST',
      url: '/chat/uploads',
      headers: { origin, authorization: `Bearer ${token}`, 'content-type': request.headers.get('content-type')! },
      payload: Buffer.from(await request.arrayBuffer()),
    });
    expect(uploaded.statusCode).toBe(201);
    const fileId = (uploaded.json() as { fileId: string }).fileId;
    await ok(token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId, message: { clientMessageId: randomUUID(), fileId } } });
    const transcript = await ok<{ chatTranscript: { messages: { sender: string; kind: string; text: string | null }[] } }>(ann().token, 'query($c: ID!) { chatTranscript(contactId: $c) { messages { sender kind text } } }', { c: contactId });
    expect(transcript.chatTranscript.messages.filter((m) => m.sender !== 'SYSTEM').map((m) => m.kind === 'IMAGE' ? 'IMAGE' : m.text)).toEqual(['Can you see the broken part? 📷', 'Yes, hold it closer please', 'IMAGE']);

    // Transfer to Bob: Ann's media stops, the customer's goes on and now comes from Bob.
    await ok(ann().token, 'mutation($c: ID!, $to: ID!) { transferContact(input: { contactId: $c, toAgentId: $to }) { status } }', { c: contactId, to: bob().id });
    const bobBrowser = browser();
    await takes(bob(), contactId, bobBrowser);
    expect(await contact(contactId)).toMatchObject({ status: 'CONNECTED', agent: { id: bob().id } });
    await until(async () => ({ ...bobBrowser.received }), (r) => r.audio > 50 && r.video > 20, 60_000);
    const customerBefore = { ...customer.received };
    await until(async () => ({ ...customer.received }), (r) => r.audio > customerBefore.audio + 50 && r.video > customerBefore.video + 20, 60_000);
    const annAfter = { ...annBrowser.received };
    await new Promise((r) => setTimeout(r, 1500));
    expect(annBrowser.received.audio - annAfter.audio).toBeLessThan(10);

    // The customer's browser vanishes (tab closed without a word): ended after the grace period.
    customer.stopMedia();
    await customer.pc.close();
    const ended = await until(() => contact(contactId), (c) => c.status === 'ENDED', 60_000);
    expect(ended).toMatchObject({ endReason: 'customerDisconnected', endedBy: 'SYSTEM' });
    const conversation = await ok<{ conversation: { status: string; endStatus: string } }>(token, 'query($c: ID!) { conversation(contactId: $c) { status endStatus } }', { c: contactId });
    expect(conversation.conversation).toEqual({ status: 'ENDED', endStatus: 'CUSTOMER_DISCONNECTED' });

    // Recordings: the customer, Ann and Bob, each a WebM with VP8 video and Opus audio.
    const rows = await until(
      () => t.kefu.db.selectFrom('call_recordings').selectAll().where('contact_id', '=', contactId).execute(),
      (r) => r.length === 3 && r.every((x) => x.status === 'READY'),
      60_000,
    );
    expect(new Set(rows.map((r) => r.agent_id))).toEqual(new Set([null, ann().id, bob().id]));
    for (const row of rows) {
      const file = avRecordingPath(t.recordingsDir, seed.instanceId, row.id);
      expect(existsSync(file)).toBe(true);
      const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { encoding: 'utf8' })) as {
        streams: { codec_type: string; codec_name: string }[];
        format: { format_name: string; duration?: string };
      };
      expect(probe.format.format_name).toContain('webm');
      // Each participant's media is in it (the customer's for longest). The durations come from the media's RTP
      // timestamps: Bob, transferred to last, may hold just about a second of it on a loaded machine.
      expect(Number(probe.format.duration)).toBeGreaterThan(0.5);
      expect(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(['audio:opus', 'video:vp8']);
    }
    // Complete means complete: nothing is appended after (the size recorded is the file's, a while later).
    await new Promise((r) => setTimeout(r, 2000));
    for (const row of rows) expect(statSync(avRecordingPath(t.recordingsDir, seed.instanceId, row.id)).size).toBe(Number(row.bytes));
    // The service record (WS-3): an AV record with its agents, the transfer, the end and the recordings.
    const record = await ok<{ chatRecord: { channel: string; endStatus: string; agents: { id: string }[]; transfers: { fromAgentId: string; toAgentId: string }[]; customerMessages: number; agentMessages: number; recordings: { id: string; status: string; url: string }[] } }>(
      seed.adminKey,
      'query($c: ID!) { chatRecord(contactId: $c) { channel endStatus agents { id } transfers { fromAgentId toAgentId } customerMessages agentMessages recordings { id status url } } }',
      { c: contactId },
    );
    expect(record.chatRecord).toMatchObject({
      channel: 'AV',
      endStatus: 'CUSTOMER_DISCONNECTED',
      agents: [{ id: ann().id }, { id: bob().id }],
      transfers: [{ fromAgentId: ann().id, toAgentId: bob().id }],
      customerMessages: 2,
      agentMessages: 1,
    });
    expect(record.chatRecord.recordings.map((r) => r.url).sort()).toEqual(rows.map((r) => `/recordings/${r.id}`).sort());
    // Served with auth and Range, like phone recordings.
    const id = rows.find((r) => r.agent_id === null)!.id;
    const ranged = await t.kefu.app.inject({ method: 'GET', url: `/recordings/${id}`, headers: { authorization: `Bearer ${seed.adminKey}`, range: 'bytes=0-3' } });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-type']).toBe('video/webm');
    expect(ranged.rawPayload).toEqual(Buffer.from([0x1a, 0x45, 0xdf, 0xa3]));
    expect((await t.kefu.app.inject({ method: 'GET', url: `/recordings/${id}` })).statusCode).toBe(401);
    // The agents who served the call may play it; an agent who had no part in it gets NOT_FOUND.
    const asAgent = (token: string) => t.kefu.app.inject({ method: 'HEAD', url: `/recordings/${id}`, headers: { authorization: `Bearer ${token}` } });
    expect((await asAgent(ann().token)).statusCode).toBe(200);
    expect((await asAgent(bob().token)).statusCode).toBe(200);
    expect((await asAgent(seed.agents[2]!.token)).statusCode).toBe(404);
    // The agents' stand-in browsers (and their encoders) stop here: the machine is shared.
    await annBrowser.close();
    await bobBrowser.close();
  });

  it('a ring timeout passes the call to the next agent; hold and resume; the agent\'s browser vanishing puts it back in the queue (REQUEUE), the customer staying on', async () => {
    const group = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
        input: { name: 'Short ring', channel: 'AV', ringTimeoutSeconds: 5, onAgentDeviceLost: 'REQUEUE' },
      })
    ).createSkillGroup.id;
    for (const a of [ann(), bob()]) {
      await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: a.id });
      await ok(a.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    }
    const token = await customerToken();
    const customer = browser();
    const started = await ok<{ startAvCall: { contactId: string; sdp: string } }>(token, START, { input: { clientCallId: randomUUID(), skillGroupId: group, sdp: await customer.offer() } });
    const contactId = started.startAvCall.contactId;
    await customer.answer(started.startAvCall.sdp);
    await customer.startMedia();

    // Nobody answers the first offer: after the ring timeout the other agent is offered the call.
    const first = await until(() => contact(contactId), (c) => c.status === 'OFFERED', 60_000);
    const firstAgent = first.offer!.agents[0]!.id;
    const second = await until(() => contact(contactId), (c) => c.status === 'OFFERED' && c.offer!.offerId !== first.offer!.offerId, 60_000);
    const secondAgent = [ann(), bob()].find((a) => a.id === second.offer!.agents[0]!.id)!;
    expect(secondAgent.id).not.toBe(firstAgent);
    const agentBrowser = browser();
    const r = await ok<{ acceptAvCall: { sdp: string } }>(secondAgent.token, ACCEPT, { input: { contactId, offerId: second.offer!.offerId, sdp: await agentBrowser.offer() } });
    await agentBrowser.answer(r.acceptAvCall.sdp);
    await agentBrowser.startMedia();
    await until(async () => ({ ...agentBrowser.received }), (x) => x.audio > 20 && x.video > 10, 60_000);
    await until(async () => ({ ...customer.received }), (x) => x.audio > 20 && x.video > 10, 60_000);

    // Hold: nothing is relayed either way; resume: both sides hear and see each other again.
    await ok(secondAgent.token, 'mutation($c: ID!) { holdCall(input: { contactId: $c }) { status } }', { c: contactId });
    await new Promise((r) => setTimeout(r, 1000));
    const heldAt = { c: customer.received.audio, a: agentBrowser.received.audio };
    await new Promise((r) => setTimeout(r, 2000));
    expect(customer.received.audio - heldAt.c).toBeLessThan(5);
    expect(agentBrowser.received.audio - heldAt.a).toBeLessThan(5);
    await ok(secondAgent.token, 'mutation($c: ID!) { resumeCall(input: { contactId: $c }) { status } }', { c: contactId });
    await until(async () => ({ c: customer.received.audio, a: agentBrowser.received.audio }), (x) => x.c > heldAt.c + 30 && x.a > heldAt.a + 30, 60_000);

    // The agent's browser vanishes (no goodbye): after the grace period the call goes back to the queue.
    agentBrowser.stopMedia();
    await agentBrowser.pc.close();
    const requeued = await until(() => contact(contactId), (c) => c.status === 'QUEUED' || (c.status === 'OFFERED' && c.offer!.offerId !== second.offer!.offerId), 60_000);
    expect(requeued.status).toMatch(/QUEUED|OFFERED/);
    // The customer is still connected and sending; they end the call themselves.
    expect(customer.pc.connectionState).toBe('connected');
    await ok(token, 'mutation($input: EndChatInput!) { endChat(input: $input) { status } }', { input: { contactId } });
    const ended = await until(() => contact(contactId), (c) => c.status === 'ENDED', 30_000);
    expect(ended).toMatchObject({ endedBy: 'CUSTOMER' });
    await until(async () => customer.pc.connectionState, (st) => st === 'closed' || st === 'failed' || st === 'disconnected', 60_000);
  });

  it('an audio-only call: audio both ways, no video to the customer, audio-only WebMs; at most KEFU_AV_MAX_PER_ADDRESS calls from one address', async () => {
    const token = await customerToken();
    const customer = browser(false);
    const started = await ok<{ startAvCall: { contactId: string; sdp: string; videoCodec: string | null } }>(token, START, { input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp: await customer.offer() } });
    expect(started.startAvCall.videoCodec).toBeNull();
    const contactId = started.startAvCall.contactId;
    await customer.answer(started.startAvCall.sdp);
    await customer.startMedia();

    // A second caller from the same address is fine, a third is one too many (the limit is 2 here).
    const second = await ok<{ startAvCall: { contactId: string } }>(await customerToken(), START, { input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp: await browser(false).offer() } });
    const third = await gql(await customerToken(), START, { input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp: await browser(false).offer() } });
    expect(codeOf(third)).toBe('RATE_LIMITED');
    expect(third.errors![0]!.message).toMatch(/from one address/);

    // The agent's browser offers video, but the call is audio only: Kefu answers its video inactive.
    const agent = browser(true);
    await ok(ann().token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(() => contact(contactId), (c) => c.status === 'OFFERED', 60_000);
    const taker = [ann(), bob()].find((a) => a.id === offered.offer!.agents[0]!.id)!;
    const r = await ok<{ acceptAvCall: { sdp: string; videoCodec: string | null } }>(taker.token, ACCEPT, { input: { contactId, offerId: offered.offer!.offerId, sdp: await agent.offer() } });
    expect(r.acceptAvCall.videoCodec).toBeNull();
    expect(r.acceptAvCall.sdp).toMatch(/m=video 0 |a=inactive/);
    await agent.answer(r.acceptAvCall.sdp);
    await agent.startMedia();
    await until(async () => ({ c: { ...customer.received }, a: { ...agent.received } }), (x) => x.c.audio > 50 && x.a.audio > 50, 60_000);
    expect(customer.received.video).toBe(0);
    expect(agent.received.video).toBe(0);

    await ok(token, 'mutation($input: EndChatInput!) { endChat(input: $input) { status } }', { input: { contactId } });
    const rows = await until(
      () => t.kefu.db.selectFrom('call_recordings').selectAll().where('contact_id', '=', contactId).execute(),
      (x) => x.length === 2 && x.every((y) => y.status === 'READY'),
      60_000,
    );
    for (const row of rows) {
      const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', avRecordingPath(t.recordingsDir, seed.instanceId, row.id)], { encoding: 'utf8' })) as { streams: { codec_type: string; codec_name: string }[] };
      expect(probe.streams.map((st) => `${st.codec_type}:${st.codec_name}`)).toEqual(['audio:opus']);
    }
    await ok(seed.adminKey, 'mutation($input: EndContactInput!) { endContact(input: $input) { status } }', { input: { contactId: second.startAvCall.contactId } }).catch(() => undefined);
    await agent.close();
  });
});

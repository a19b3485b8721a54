// An audio call becoming a video call (issue 14), with werift peer connections standing in for the browsers
// (real DTLS-SRTP, VP8 and Opus from ffmpeg), through the public API and graphql-ws: the customer chose an
// entry of the channel's configured visual menu; their call starts audio only; their browser's new offer on
// the same connection adds video (renegotiateAvCall); the agent's page, told by avCallMedia, sends its own
// new offer; video then flows both ways and each side's recording goes on in a new WebM with video. An audio-
// only entry refuses both a video offer and the upgrade; another customer cannot renegotiate the call.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { avTestEnv, requireFfmpeg } from '../support/av.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { fromPage, codeOf } from '../support/chat.ts';
import { until } from '../support/until.ts';
import { collect, wsClient } from '../support/ws-client.ts';
import { avRecordingPath } from '../../src/adapters/storage/recording-storage.ts';
import { WeriftAvBrowser } from './werift-av-browser.ts';

const origin = 'https://shop.example';
const START = 'mutation($input: StartAvCallInput!) { startAvCall(input: $input) { contactId sdp videoCodec } }';
const ACCEPT = 'mutation($input: AcceptAvCallInput!) { acceptAvCall(input: $input) { contactId sdp videoCodec } }';
const RENEGOTIATE = 'mutation($input: RenegotiateAvCallInput!) { renegotiateAvCall(input: $input) { contactId sdp videoCodec } }';
const MEDIA = 'subscription($c: ID!) { avCallMedia(contactId: $c) { contactId customerVideo agentVideo videoCodec agentId } }';

interface Media {
  avCallMedia: { contactId: string; customerVideo: boolean; agentVideo: boolean; videoCodec: string | null; agentId: string | null };
}

describe('an audio call becoming a video call (werift browsers)', () => {
  let t: TestKefu;
  let url: string;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let avGroup: string;
  let channelKey: string;
  const browsers: WeriftAvBrowser[] = [];
  const clients: Client[] = [];
  const ann = () => seed.agents[0]!;

  const { gql, ok, customerToken: sessionOn } = fromPage(() => t, origin);
  const browser = (video: boolean) => {
    const b = new WeriftAvBrowser(video);
    browsers.push(b);
    return b;
  };
  const customerToken = () => sessionOn(channelKey);
  const status = async (id: string) =>
    (await ok<{ contact: { status: string; offer: { offerId: string } | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id })).contact;
  const recordings = (contactId: string) => t.kefu.db.selectFrom('call_recordings').selectAll().where('contact_id', '=', contactId).orderBy('started_at').execute();
  const streamsOf = (file: string) =>
    (JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file], { encoding: 'utf8' })) as { streams: { codec_type: string; codec_name: string }[] }).streams
      .map((s) => `${s.codec_type}:${s.codec_name}`)
      .sort();

  beforeAll(async () => {
    requireFfmpeg();
    t = await startTestKefu({
      database: 'pglite',
      listen: true,
      env: avTestEnv(),
    });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    const group = async (name: string, channel: string) =>
      (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name, channel } })).createSkillGroup.id;
    avGroup = await group('Repairs desk', 'AV');
    const chatGroup = await group('Chat', 'ONLINE');
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: avGroup, a: ann().id });
    channelKey = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: {
          name: 'Shop',
          allowedOrigins: [origin],
          skillGroupId: chatGroup,
          av: {
            kinds: ['AUDIO', 'VIDEO'],
            onlyWhenAgentsOnline: false,
            menu: [
              { number: 2, label: 'Billing (voice)', skillGroupId: avGroup, kinds: ['AUDIO'] },
              { number: 1, label: 'Repairs', description: 'Show us the broken part', skillGroupId: avGroup, iconUrl: 'https://cdn.shop.example/repairs.png' },
            ],
          },
        },
      })
    ).createWebChannel.webChannel.publicKey;
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    for (const b of browsers) await b.close().catch(() => undefined);
    await t?.close();
  });

  it("lists the channel's configured menu in order; an audio-only entry refuses video", async () => {
    const token = await customerToken();
    const r = await ok<{ avCallOptions: { kinds: string[]; configured: boolean; onlyWhenAgentsOnline: boolean; menu: { number: number; title: string; description: string | null; iconUrl: string | null; kinds: string[]; skillGroupId: string }[] } }>(
      token,
      'query { avCallOptions { kinds configured onlyWhenAgentsOnline menu { number title description iconUrl kinds skillGroupId } } }',
    );
    expect(r.avCallOptions).toEqual({
      kinds: ['AUDIO', 'VIDEO'],
      configured: true,
      onlyWhenAgentsOnline: false,
      menu: [
        { number: 1, title: 'Repairs', description: 'Show us the broken part', iconUrl: 'https://cdn.shop.example/repairs.png', kinds: ['AUDIO', 'VIDEO'], skillGroupId: avGroup },
        { number: 2, title: 'Billing (voice)', description: null, iconUrl: null, kinds: ['AUDIO'], skillGroupId: avGroup },
      ],
    });
    const video = await browser(true).offer();
    const refused = await gql(token, START, { input: { clientCallId: randomUUID(), menuEntry: 2, sdp: video } });
    expect(codeOf(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors![0]!.message).toMatch(/audio calls only/);
    const noEntry = await gql(token, START, { input: { clientCallId: randomUUID(), menuEntry: 7, sdp: video } });
    expect(codeOf(noEntry)).toBe('BAD_USER_INPUT');
    expect(noEntry.errors![0]!.message).toMatch(/no entry 7/);

    // An audio call on the audio-only entry cannot become a video call.
    const customer = browser(false);
    const started = await ok<{ startAvCall: { contactId: string; sdp: string } }>(token, START, { input: { clientCallId: randomUUID(), menuEntry: 2, sdp: await customer.offer() } });
    await customer.answer(started.startAvCall.sdp);
    customer.addVideo();
    const upgrade = await gql(token, RENEGOTIATE, { input: { contactId: started.startAvCall.contactId, sdp: await customer.offer() } });
    expect(codeOf(upgrade)).toBe('BAD_USER_INPUT');
    expect(upgrade.errors![0]!.message).toMatch(/audio only/);
    // Nor can a garbled or oversized offer be sent on the call.
    const garbled = await gql(token, RENEGOTIATE, { input: { contactId: started.startAvCall.contactId, sdp: 'v=0\r\nnot an offer' } });
    expect(codeOf(garbled)).toBe('BAD_USER_INPUT');
    // New offers on one call are bounded (30, refusals included).
    for (let i = 3; i <= 30; i++) expect(codeOf(await gql(token, RENEGOTIATE, { input: { contactId: started.startAvCall.contactId, sdp: 'v=0\r\nnot an offer' } }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await gql(token, RENEGOTIATE, { input: { contactId: started.startAvCall.contactId, sdp: await customer.offer() } }))).toBe('RATE_LIMITED');
    await ok(token, 'mutation($input: EndChatInput!) { endChat(input: $input) { status } }', { input: { contactId: started.startAvCall.contactId } });
    await customer.close();
  });

  it('an audio call becomes a video call: renegotiated on both sides, video both ways, recordings gain video', async () => {
    const token = await customerToken();
    const customer = browser(false);
    const started = await ok<{ startAvCall: { contactId: string; sdp: string; videoCodec: string | null } }>(token, START, { input: { clientCallId: randomUUID(), menuEntry: 1, sdp: await customer.offer() } });
    const contactId = started.startAvCall.contactId;
    expect(started.startAvCall.videoCodec).toBeNull();
    await customer.answer(started.startAvCall.sdp);
    await customer.startMedia();

    // Ann takes it with a browser that offers video; the call is audio only, so her video stays off for now.
    await ok(ann().token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(() => status(contactId), (c) => c.status === 'OFFERED', 60_000);
    const agent = browser(true);
    const accepted = await ok<{ acceptAvCall: { sdp: string; videoCodec: string | null } }>(ann().token, ACCEPT, { input: { contactId, offerId: offered.offer!.offerId, sdp: await agent.offer() } });
    expect(accepted.acceptAvCall.videoCodec).toBeNull();
    await agent.answer(accepted.acceptAvCall.sdp);
    await agent.startMedia();
    await until(async () => ({ c: customer.received.audio, a: agent.received.audio }), (x) => x.c > 30 && x.a > 30, 60_000);
    expect(agent.received.video).toBe(0);

    // Ann's page follows the call's media; so does the customer's.
    const annWs = wsClient(url, ann().token);
    clients.push(annWs);
    const annMedia = collect<Media>(annWs, MEDIA, { c: contactId });
    await annMedia.next(1, 30_000);
    expect(annMedia.received[0]!.avCallMedia).toEqual({ contactId, customerVideo: false, agentVideo: false, videoCodec: null, agentId: ann().id });

    // Someone else's token cannot touch the call's media.
    const stranger = await gql(await customerToken(), RENEGOTIATE, { input: { contactId, sdp: await browser(true).offer() } });
    expect(codeOf(stranger)).toBe('NOT_FOUND');

    // The customer turns the camera on: a new offer on the same connection, with video.
    customer.addVideo();
    const upgraded = await ok<{ renegotiateAvCall: { sdp: string; videoCodec: string | null } }>(token, RENEGOTIATE, { input: { contactId, sdp: await customer.offer() } });
    expect(upgraded.renegotiateAvCall.videoCodec).toBe('VP8');
    await customer.answerAgain(upgraded.renegotiateAvCall.sdp);
    // Ann's page is told and renegotiates too, taking the customer's codec.
    await until(async () => annMedia.received.at(-1)!.avCallMedia, (m) => m.customerVideo && !m.agentVideo, 30_000);

    const agentAgain = await ok<{ renegotiateAvCall: { sdp: string; videoCodec: string | null } }>(ann().token, RENEGOTIATE, { input: { contactId, sdp: await agent.offer() } });
    expect(agentAgain.renegotiateAvCall.videoCodec).toBe('VP8');
    await agent.answerAgain(agentAgain.renegotiateAvCall.sdp);
    await until(async () => annMedia.received.at(-1)!.avCallMedia, (m) => m.customerVideo && m.agentVideo && m.videoCodec === 'VP8', 30_000);

    // Video both ways now, audio still flowing.
    const audioBefore = { c: customer.received.audio, a: agent.received.audio };
    await until(async () => ({ c: { ...customer.received }, a: { ...agent.received } }), (x) => x.c.video > 20 && x.a.video > 20 && x.c.audio > audioBefore.c + 30 && x.a.audio > audioBefore.a + 30, 60_000);
    // Keyframe requests pass through on the new video, too.
    const pliBefore = customer.pliReceived;
    await until(() => agent.sendPli(), (sent) => sent);
    await until(async () => customer.pliReceived, (n) => n > pliBefore, 20_000);

    // Each side's recording went on in a new WebM: first audio only, then audio and video.
    await until(() => recordings(contactId), (rows) => rows.filter((r) => r.status === 'RECORDING').length === 2 && rows.length === 4, 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    await ok(token, 'mutation($input: EndChatInput!) { endChat(input: $input) { status } }', { input: { contactId } });
    const rows = await until(() => recordings(contactId), (x) => x.length === 4 && x.every((y) => y.status === 'READY'), 60_000);
    for (const who of [null, ann().id]) {
      const mine = rows.filter((r) => r.agent_id === who);
      expect(mine.map((r) => streamsOf(avRecordingPath(t.recordingsDir, seed.instanceId, r.id)))).toEqual([['audio:opus'], ['audio:opus', 'video:vp8']]);
    }
    await until(async () => annMedia.completed, (done) => done, 30_000);
  });
});

// Fuzz of the AV call offers (issue 14): startAvCall and acceptAvCall with SDP a browser never writes, mutated
// from a real offer (a werift peer's, audio+video): random line edits, huge, zero and negative ports,
// thousands of candidates, bad fingerprints, missing ICE credentials, odd codecs and payload types, NUL bytes,
// \r-only line ends, duplicate m-lines, giant attribute values. Expected: BAD_USER_INPUT (or another clear
// code), never INTERNAL_SERVER_ERROR; every answer in bounded time; no UDP socket left open once the calls that
// were taken have timed out (KEFU_AV_CONNECT_TIMEOUT_MS); a real offer still answered afterwards.
// Seeded: KEFU_FUZZ_SEED=<seed> replays a run (the seed is in every failure message).
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { fromPage, codeOf } from '../support/chat.ts';
import { fuzzSeed, seededRandom } from '../support/seeded-random.ts';
import { until } from '../support/until.ts';
import { WeriftAvBrowser } from './werift-av-browser.ts';

const origin = 'https://shop.example';
const seed = fuzzSeed();
const rounds = Number(process.env.KEFU_FUZZ_ROUNDS ?? 120);
const START = 'mutation($input: StartAvCallInput!) { startAvCall(input: $input) { contactId sdp videoCodec } }';
const ACCEPT = 'mutation($input: AcceptAvCallInput!) { acceptAvCall(input: $input) { contactId sdp videoCodec } }';
const END = 'mutation($input: EndChatInput!) { endChat(input: $input) { status } }';
const CONTACT = 'query($id: ID!) { contact(id: $id) { status endReason offer { offerId agents { id } } } }';
/** Codes that say what is wrong; INTERNAL_SERVER_ERROR is the one that must never come. */
const clearCodes = ['BAD_USER_INPUT', 'RATE_LIMITED', 'CONFLICT', 'NOT_FOUND', 'FORBIDDEN'];

type Rand = () => number;
const pick = <T,>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);
/** This process's open UDP sockets (local address:port as /proc/net/udp writes it): its socket descriptors whose inode /proc/net/udp and udp6 list. */
function udpSockets(): number {
  // Kefu's peers bind KEFU_AV_BIND (127.0.0.1 here); the werift stand-in browsers bind 0.0.0.0 and are not counted.
  return udpSocketAddresses().filter((a) => a.startsWith('0100007F:')).length;
}
function udpSocketAddresses(): string[] {
  const inodes = new Map<string, string>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[9]) inodes.set(cols[9], cols[1]!);
    }
  }
  const found: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m && inodes.has(m[1]!)) found.push(inodes.get(m[1]!)!);
    } catch {
      // closed meanwhile
    }
  }
  return found;
}

const oddLines = [
  'm=audio 99999999 UDP/TLS/RTP/SAVPF 111',
  'm=audio -5 UDP/TLS/RTP/SAVPF 111',
  'm=audio 0 UDP/TLS/RTP/SAVPF 111',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'm=audio 9 RTP/AVP 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF',
  'm=text 9 RTP/AVP 98',
  'm=',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:999999 opus/48000/2',
  'a=rtpmap:-1 opus/48000/2',
  'a=rtpmap:111 opus/0/2',
  'a=rtpmap:111 opus/abc',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:96 VP9/90000',
  'a=rtpmap:127 H264/90000',
  'a=fmtp:111 minptime=10;useinbandfec=1;' + 'x=1;'.repeat(2000),
  'a=fmtp:96 apt=96',
  'a=rtcp-fb:96 nack pli',
  'a=rtcp-fb:* *',
  'a=fingerprint:sha-256 ZZ:ZZ',
  'a=fingerprint:sha-1 00',
  'a=fingerprint:md5',
  'a=fingerprint:',
  'a=setup:actpass',
  'a=setup:holdconn',
  'a=ice-ufrag:',
  'a=ice-pwd:',
  'a=ice-ufrag:' + 'u'.repeat(5000),
  'a=ice-options:trickle',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 70000 typ host',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 -1 typ host',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 0 typ host',
  'a=candidate:1 1 udp -9 127.0.0.1 5000 typ host',
  'a=candidate:1 1 tcp 2122260223 127.0.0.1 5000 typ host tcptype passive',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 5000 typ relay raddr 0.0.0.0 rport 0',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 5000 typ',
  'a=candidate:',
  'a=candidate:1',
  'a=candidate:1 1 udp 2122260223 ::1 5000 typ host',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host generation 0 ufrag ' + 'x'.repeat(3000),
  'a=mid:',
  'a=mid:0',
  'a=mid:' + 'm'.repeat(4000),
  'a=group:BUNDLE 0 1 2 3 4 5',
  'a=group:BUNDLE',
  'a=msid:- ' + 'a'.repeat(1000),
  'a=ssrc:4294967296 cname:x',
  'a=ssrc:-1 cname:x',
  'a=ssrc-group:FID 1',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:99999 urn:x',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=rtcp-mux',
  'a=sctp-port:99999',
  'a=max-message-size:-1',
  'a=sendonly',
  'a=recvonly',
  'a=inactive',
  'c=IN IP4 999.1.1.1',
  'c=IN IP6 zz',
  'o=- 1 2 IN IP4 127.0.0.1',
  'v=1',
  's=',
  't=-1 -1',
  'b=AS:-1',
  'a=\u0000',
  'a=x:\uD800',
  'a=x:😀',
  '\u0000',
  '',
  ' ',
  'garbage',
];

/** A mutated offer: several edits of the real one. */
function mutate(r: Rand, base: string): { sdp: string; label: string } {
  let lines = base.split('\r\n');
  const labels: string[] = [];
  for (let m = 1 + int(r, 4); m > 0; m--) {
    const kind = int(r, 13);
    const at = int(r, lines.length);
    labels.push(String(kind));
    switch (kind) {
      case 0:
        lines.splice(at, 1);
        break;
      case 1:
        lines.splice(at, 0, pick(r, oddLines));
        break;
      case 2:
        lines[at] = pick(r, oddLines);
        break;
      case 3: {
        // Thousands of candidates (the offer may then be over the size limit: refused as such).
        const n = pick(r, [50, 400, 3000]);
        const where = lines.findIndex((l) => l.startsWith('a=candidate:'));
        lines.splice(where < 0 ? at : where, 0, ...Array.from({ length: n }, (_, i) => `a=candidate:${i} 1 udp ${2122260223 - i} 127.0.0.1 ${1024 + (i % 60000)} typ host`));
        break;
      }
      case 4:
        lines = lines.filter((l) => !l.startsWith(pick(r, ['a=ice-ufrag', 'a=ice-pwd', 'a=fingerprint', 'a=candidate', 'a=rtpmap', 'a=mid', 'a=setup', 'a=group', 'c='])));
        break;
      case 5: {
        // Duplicate m-lines (a whole section again).
        const start = lines.findIndex((l) => l.startsWith('m='));
        if (start >= 0) {
          const next = lines.findIndex((l, i) => i > start && l.startsWith('m='));
          lines.push(...lines.slice(start, next < 0 ? undefined : next));
        }
        break;
      }
      case 6:
        lines[at] = `${lines[at] ?? ''}${pick(r, ['\u0000', '\r', ' ', '\t', 'x'.repeat(15_000), ':', '/', '\uFFFD'])}`;
        break;
      case 7:
        // Ports and payload types out of range.
        lines = lines.map((l) => (l.startsWith('m=') && r() < 0.5 ? l.replace(/^(m=\w+) \d+/, `$1 ${pick(r, ['0', '-1', '65536', '4294967296', '99999999999999999999', 'NaN', ''])}`) : l));
        lines = lines.map((l) => (l.startsWith('a=rtpmap:') && r() < 0.3 ? l.replace(/^a=rtpmap:\d+/, `a=rtpmap:${pick(r, ['0', '128', '255', '256', '-1', '1e3', '99999999999'])}`) : l));
        break;
      case 8:
        lines = lines.map((l) => (l.startsWith('a=fingerprint:') ? pick(r, ['a=fingerprint:sha-256 ' + 'GG:'.repeat(31) + 'GG', 'a=fingerprint:sha-512 00', 'a=fingerprint:foo bar', 'a=fingerprint:sha-256']) : l));
        break;
      case 9: {
        // Swap two lines.
        const b = int(r, lines.length);
        [lines[at], lines[b]] = [lines[b]!, lines[at]!];
        break;
      }
      case 10:
        lines[at] = (lines[at] ?? '').replace(/[:= ]/, '');
        break;
      case 11:
        lines = lines.map((l) => (l.startsWith('a=rtpmap:') && r() < 0.5 ? l.replace(/ [A-Za-z0-9-]+\//, ` ${pick(r, ['opus', 'OPUS', 'VP8', 'H264', 'AV1', 'red', 'rtx', 'telephone-event', 'x'.repeat(300)])}/`) : l));
        break;
      default:
        break;
    }
  }
  const ends = pick(r, ['\r\n', '\r\n', '\r\n', '\n', '\r', '\r\r\n', '\n\r']);
  labels.push(JSON.stringify(ends));
  return { sdp: lines.join(ends), label: labels.join(',') };
}

describe(`AV offer fuzz (seed ${seed}, KEFU_FUZZ_SEED=${seed} replays it)`, () => {
  let t: TestKefu;
  let seedData: Awaited<ReturnType<typeof seedInstance>>;
  let avGroup: string;
  let channelKey: string;
  let baseVideo = '';
  let baseAudio = '';
  let baseline = 0;

  const { gql } = fromPage(() => t, origin);
  async function customerToken(): Promise<string> {
    const r = await gql<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey } });
    if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
    return r.data!.startCustomerSession.token;
  }

  beforeAll(async () => {
    t = await startTestKefu({
      database: 'pglite',
      env: {
        KEFU_AV_PUBLIC_ADDRESS: '127.0.0.1',
        KEFU_AV_BIND: '127.0.0.1',
        // Calls stay until the test ends them (endChat): an offered call must wait for the agents' attempts.
        KEFU_AV_CONNECT_TIMEOUT_MS: '300000',
        KEFU_AV_GRACE_MS: '300000',
        KEFU_AV_MAX_PER_ADDRESS: '10000',
        KEFU_CHAT_LIMIT_SESSION: '10000/600',
        KEFU_CHAT_LIMIT_CHAT: '10000/3600',
        KEFU_CHAT_LIMIT_CHAT_PER_ADDRESS: '10000/3600',
        KEFU_AV_RECORDING: 'off',
        KEFU_AV_ALLOWED_CANDIDATES: '127.0.0.0/8,::1',
      },
    });
    seedData = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }, { name: 'Cid', login: 'cid' }, { name: 'Dee', login: 'dee' }] });
    avGroup = (await t.ok<{ createSkillGroup: { id: string } }>(seedData.adminKey, 'mutation { createSkillGroup(input: { name: "Video", channel: AV, ringTimeoutSeconds: 120 }) { id } }')).createSkillGroup.id;
    const chat = (await t.ok<{ createSkillGroup: { id: string } }>(seedData.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE }) { id } }')).createSkillGroup.id;
    for (const a of seedData.agents) await t.ok(seedData.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: avGroup, a: a.id });
    channelKey = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seedData.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: chat },
      })
    ).createWebChannel.webChannel.publicKey;
    for (const video of [true, false]) {
      const b = new WeriftAvBrowser(video);
      const offer = await b.offer();
      await b.close();
      if (video) baseVideo = offer;
      else baseAudio = offer;
    }
    baseline = udpSockets();
  }, 180_000);

  afterAll(async () => {
    await t?.close();
  });

  it('startAvCall with mutated offers: clear codes only, bounded answers, no socket left behind', async () => {
    const r = seededRandom(seed);
    const started = Date.now();
    const failures: string[] = [];
    const codes = new Map<string, number>();
    let slowest = 0;
    let token: string | null = null;
    const taken: { token: string; contactId: string }[] = [];
    for (let i = 0; i < rounds; i++) {
      const m = mutate(r, r() < 0.7 ? baseVideo : baseAudio);
      // One open call per visitor: a new visitor after each call taken.
      token ??= await customerToken();
      const t0 = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const res = await Promise.race([
        gql<{ startAvCall: { contactId: string } }>(token, START, { input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp: m.sdp } }),
        new Promise<GqlResult<never>>((resolve) => (timer = setTimeout(() => resolve({ status: 0, errors: [{ message: 'no answer in 30 s', extensions: { code: 'HUNG' } }] } as GqlResult<never>), 30_000))),
      ]);
      clearTimeout(timer);
      slowest = Math.max(slowest, Date.now() - t0);
      const code = res.errors?.length ? String(codeOf(res) ?? 'NO_CODE') : 'OK';
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (code === 'OK') {
        taken.push({ token: token!, contactId: (res.data as { startAvCall: { contactId: string } }).startAvCall.contactId });
        token = null;
      }
      if (code !== 'OK' && !clearCodes.includes(code)) failures.push(`offer ${i} (${m.label}): ${res.status} ${code} ${JSON.stringify(res.errors).slice(0, 300)}`);
    }
    expect(failures, `seed ${seed}`).toEqual([]);
    const peak = udpSockets();
    expect(peak, `seed ${seed}: the calls taken hold sockets (what is counted)`).toBeGreaterThan(codes.has('OK') ? baseline : -1);
    expect(slowest, `seed ${seed}: an answer took ${slowest} ms`).toBeLessThan(30_000);
    expect(codes.get('BAD_USER_INPUT') ?? 0, `seed ${seed}`).toBeGreaterThan(rounds / 4);
    // The calls taken with a mutated offer end (the customer ends them), and their sockets are closed.
    for (const c of taken) {
      const ended = await gql(c.token, END, { input: { contactId: c.contactId } });
      expect(ended.errors, `seed ${seed}`).toBeUndefined();
    }
    await until(async () => udpSockets(), (n) => n <= baseline, 90_000).catch(() => undefined);
    expect(udpSockets(), `seed ${seed}: UDP sockets left open`).toBe(baseline);
    const took = Date.now() - started;
    console.log(`AV offer fuzz (startAvCall) seed ${seed}: ${rounds} offers in ${took} ms, UDP sockets ${baseline} before, ${peak} after the storm, ${udpSockets()} once the calls ended; slowest ${slowest} ms, codes ${JSON.stringify(Object.fromEntries(codes))}`);
  }, 240_000);

  it('acceptAvCall with mutated offers: clear codes only; a real offer is still answered afterwards', async () => {
    const r = seededRandom(seed ^ 0x5a5a);
    const failures: string[] = [];
    const codes = new Map<string, number>();
    const agents = [...seedData.agents];
    const customers: WeriftAvBrowser[] = [];
    const calls: { token: string; contactId: string }[] = [];
    let agent = agents.shift()!;
    await t.ok(agent.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offeredCall = async () => {
      // A customer whose browser (a werift stand-in) connects, so the call waits for an agent past the connect timeout.
      const token = await customerToken();
      const customer = new WeriftAvBrowser(true);
      customers.push(customer);
      const started = await gql<{ startAvCall: { contactId: string; sdp: string } }>(token, START, { input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp: await customer.offer() } });
      if (started.errors?.length) throw new Error(JSON.stringify(started.errors));
      await customer.answer(started.data!.startAvCall.sdp);
      const contactId = started.data!.startAvCall.contactId;
      calls.push({ token, contactId });
      const c = await until(
        async () => (await t.ok<{ contact: { status: string; offer: { offerId: string; agents: { id: string }[] } | null } }>(seedData.adminKey, CONTACT, { id: contactId })).contact,
        (x) => x.status === 'OFFERED' && (x.offer?.agents ?? []).some((a) => a.id === agent.id),
        60_000,
      );
      return { contactId, offerId: c.offer!.offerId };
    };
    let call = await offeredCall();
    const n = Math.max(10, Math.floor(rounds / 4));
    let tried = 0;
    for (let i = 0; i < n; i++) {
      tried++;
      const m = mutate(r, r() < 0.8 ? baseVideo : baseAudio);
      const res = await gql(agent.token, ACCEPT, { input: { ...call, sdp: m.sdp } });
      const code = res.errors?.length ? String(codeOf(res) ?? 'NO_CODE') : 'OK';
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (code !== 'OK' && !clearCodes.includes(code)) failures.push(`answer ${i} (${m.label}): ${res.status} ${code} ${JSON.stringify(res.errors).slice(0, 300)}`);
      if (code === 'OK') {
        // Taken: the next agent gets a new call (this one ends at the connect timeout).
        if (agents.length === 0) break;
        agent = agents.shift()!;
        await t.ok(agent.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
        call = await offeredCall();
      }
    }
    expect(failures, `seed ${seed}`).toEqual([]);
    // The process is healthy: a real offer still starts a call and is answered.
    const healthyToken = await customerToken();
    const healthy = await gql<{ startAvCall: { contactId: string; sdp: string } }>(healthyToken, START, { input: { clientCallId: randomUUID(), skillGroupId: avGroup, sdp: baseVideo } });
    expect(healthy.errors, `seed ${seed}`).toBeUndefined();
    calls.push({ token: healthyToken, contactId: healthy.data!.startAvCall.contactId });
    expect(healthy.data!.startAvCall.sdp, `seed ${seed}`).toMatch(/^v=0/);
    for (const c of calls) await gql(c.token, END, { input: { contactId: c.contactId } });
    for (const c of customers) await c.close();
    await until(async () => udpSockets(), (x) => x <= baseline, 90_000).catch(() => undefined);
    expect(udpSockets(), `seed ${seed}: Kefu's UDP sockets left open ${JSON.stringify(udpSocketAddresses())} codes ${JSON.stringify(Object.fromEntries(codes))}`).toBe(baseline);
    console.log(`AV offer fuzz (acceptAvCall) seed ${seed}: ${tried} answers (until the agents had each taken a call), codes ${JSON.stringify(Object.fromEntries(codes))}`);
  }, 240_000);
});

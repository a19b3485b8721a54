// The stand-in browsers of the AV bench (bench/av.ts), a shard of the calls per process, apart from Kefu so
// that Kefu's CPU is measured alone. Each call is a customer and an agent, each sending the clip of
// bench/av/media.ts (VP8 ~500 kbit/s and Opus) in real time with its own sequence numbers and timestamps;
// nothing is encoded or decoded here. Each side counts what it receives per kind: distinct sequence numbers
// in the window (a packet resent after a NACK counts once), so loss = 1 - received / sent per direction.
//
// mode kefu: werift peer connections (DTLS-SRTP, Opus + VP8 with NACK and PLI, host candidate 127.0.0.1, as
// a browser on this host); the customer starts the call with startAvCall (customer token of the shard's web
// channel), the agent (a graphql-ws agentOffers subscription per agent of the shard's AV group) takes the
// offer with acceptAvCall. mode bare: plain UDP sockets sending the same RTP (no SRTP) through the bare
// forwarder (bench/av/udp-relay-child.ts).
//
// IPC (each answered, or { type: 'error', message }): agents, setup, bare-setup, bare-connect, quiet,
// window-start, window-stop, counts, teardown, close.
import { randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, useNACK, usePLI } from 'werift';
import WebSocket from 'ws';
// The stand-ins' SRTP and RTP headers as cheap as Kefu's (key objects made once, headers read and written with
// bit operations), their sockets' receive buffers as Kefu's.
import { lightenEvent, lightenPeerEvents } from '../../src/adapters/webrtc/werift-rtp-fast-path.ts';
import '../../src/adapters/webrtc/werift-srtp-keys.ts';
import { weriftReceiveBufferBytes } from '../../src/adapters/webrtc/werift-udp-buffers.ts';
import { completeOffer, peerConnected } from '../../test/support/werift-peer.ts';
import { downWhy } from './failures.ts';
import { benchAvOrigin, ClipPlayer, loadClips, type Clip, type MediaKind } from './media.ts';

const clips = loadClips(process.env.BENCH_AV_MEDIA_DIR ?? '');

const kinds: MediaKind[] = ['audio', 'video'];

/**
 * Packets received since the window started, per sequence number (at most 65,536 packets per stream, checked by
 * the parent). Only those the sender sent in the window count (settle): a packet sent before it and still queued
 * somewhere (a socket's buffer holds seconds of a stream) is not one of the window's.
 */
class Received {
  private times = new Uint8Array(65536);
  /** Distinct packets of the window received, and all receptions of them (resends included), after settle. */
  unique = 0;
  total = 0;
  add(seq: number): void {
    if (this.times[seq]! < 255) this.times[seq]!++;
  }
  reset(): void {
    this.times.fill(0);
    this.unique = 0;
    this.total = 0;
  }
  /** Counts the `sent` packets from sequence number `first` (the window's). */
  settle(first: number, sent: number): void {
    this.unique = 0;
    this.total = 0;
    for (let i = 0; i < sent; i++) {
      const n = this.times[(first + i) & 0xffff]!;
      this.total += n;
      if (n > 0) this.unique++;
    }
  }
}

/** One browser's end: what it sends (a clip player per kind) and what it receives. */
abstract class Side {
  readonly players: Record<MediaKind, ClipPlayer>;
  readonly sent: Record<MediaKind, number> = { audio: 0, video: 0 };
  /** The sequence number of the window's first packet, per kind. */
  readonly firstSeq: Record<MediaKind, number> = { audio: 0, video: 0 };
  readonly received: Record<MediaKind, Received> = { audio: new Received(), video: new Received() };
  readonly ssrc = { audio: (Math.random() * 0xffffffff) >>> 0, video: (Math.random() * 0xffffffff) >>> 0 };
  sending = false;
  /** Why this side's connection went down after it was up (failed, closed or disconnected), with its ICE and DTLS states. */
  downWhy: string | null = null;
  /** Kefu's UDP port for this side (its answer's host candidate). */
  kefuPort: number | null = null;
  /** Closed by the bench (its end is not a failure). */
  protected closing = false;
  /** performance.now() of the first video packet received. */
  firstVideoAt: number | null = null;
  private firstVideoWaiters: (() => void)[] = [];

  constructor(offsetMs: number) {
    this.players = { audio: new ClipPlayer(clips.audio, offsetMs), video: new ClipPlayer(clips.video, offsetMs) };
  }

  abstract write(kind: MediaKind, clip: Clip, payload: Buffer, marker: boolean, seq: number, timestamp: number): void;
  abstract close(): Promise<void>;

  startSending(now: number): void {
    for (const k of kinds) this.players[k].start(now);
    this.sending = true;
  }

  tick(now: number): void {
    if (!this.sending) return;
    for (const k of kinds) {
      const clip = clips[k];
      this.players[k].due(now, (p, seq, timestamp) => {
        this.write(k, clip, p.payload, p.marker, seq, timestamp);
        this.sent[k]++;
      });
    }
  }

  protected got(kind: MediaKind, seq: number): void {
    this.received[kind].add(seq);
    if (kind === 'video' && this.firstVideoAt === null) {
      this.firstVideoAt = performance.now();
      for (const w of this.firstVideoWaiters.splice(0)) w();
    }
  }

  whenVideo(): Promise<void> {
    if (this.firstVideoAt !== null) return Promise.resolve();
    return new Promise((resolve) => this.firstVideoWaiters.push(resolve));
  }
}

class WeriftSide extends Side {
  readonly pc: RTCPeerConnection;
  private readonly tracks: Record<MediaKind, MediaStreamTrack> = { audio: new MediaStreamTrack({ kind: 'audio' }), video: new MediaStreamTrack({ kind: 'video' }) };

  constructor(offsetMs: number) {
    super(offsetMs);
    this.pc = new RTCPeerConnection({
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 })],
        video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: [useNACK(), usePLI()] })],
      },
      // The loopback candidate only, as a browser on this host reaches Kefu (and no gathering per interface).
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceUseIpv4: false,
      iceUseIpv6: false,
    });
    for (const k of kinds) {
      lightenEvent(this.tracks[k].onReceiveRtp);
      this.pc.addTransceiver(this.tracks[k], { direction: 'sendrecv' }).onTrack.subscribe((t) => {
        lightenEvent(t.onReceiveRtp);
        t.onReceiveRtp.subscribe((rtp) => this.got(k, rtp.header.sequenceNumber));
      });
    }
  }

  async offer(): Promise<string> {
    return completeOffer(this.pc);
  }

  async answer(sdp: string, timeoutMs: number): Promise<void> {
    this.kefuPort = Number(/ udp \d+ \S+ (\d+) typ host/.exec(sdp)?.[1] ?? 0) || null;
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    lightenPeerEvents(this.pc);
    await peerConnected(this.pc, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}; ${this.iceChecks()}`);
    });
    // A connection that goes down later (ICE consent, DTLS, Kefu closing its end) is told per call, not as loss.
    const up = performance.now();
    this.pc.connectionStateChange.subscribe((state) => {
      if (this.closing || this.downWhy || state === 'connected' || state === 'connecting' || state === 'new') return;
      this.downWhy = `connection ${state} ${((performance.now() - up) / 1000).toFixed(0)} s after it was up (ICE ${this.pc.iceConnectionState}; ${this.iceChecks()})`;
    });
  }

  /** Where ICE stood: each candidate pair's state, checks sent and answers received, and the DTLS state. */
  private iceChecks(): string {
    const t = this.pc.getTransceivers()[0]?.receiver as unknown as { dtlsTransport?: { state: string; iceTransport: { connection: { checkList: { state: number; requestsSent: number; responsesReceived: number; retransmissionsSent: number; consentRequestsSent?: number }[] } } } } | undefined;
    const dtls = t?.dtlsTransport;
    if (!dtls) return 'no transport';
    const states = ['frozen', 'waiting', 'in-progress', 'succeeded', 'failed'];
    const pairs = dtls.iceTransport.connection.checkList.map((p) => `${states[p.state] ?? p.state} (${p.requestsSent} checks of which ${p.consentRequestsSent ?? 0} for consent, ${p.retransmissionsSent} resent, ${p.responsesReceived} answered)`);
    return `pairs: ${pairs.join(', ') || 'none'}; DTLS ${dtls.state}`;
  }

  write(kind: MediaKind, clip: Clip, payload: Buffer, marker: boolean, seq: number, timestamp: number): void {
    this.tracks[kind].writeRtp(new RtpPacket(new RtpHeader({ payloadType: clip.payloadType, sequenceNumber: seq, timestamp, marker, ssrc: this.ssrc[kind] }), payload));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.sending = false;
    await this.pc.close().catch(() => undefined);
  }
}

class UdpSide extends Side {
  readonly socket: Socket = createSocket('udp4');
  to = 0;

  constructor(offsetMs: number) {
    super(offsetMs);
    this.socket.on('message', (packet) => {
      if (packet.length < 12) return;
      this.got((packet[1]! & 0x7f) === clips.video.payloadType ? 'video' : 'audio', packet.readUInt16BE(2));
    });
  }

  async bind(): Promise<number> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', () => resolve()));
    // The receive buffer the werift stand-ins' (and Kefu's) sockets ask for.
    this.socket.setRecvBufferSize(weriftReceiveBufferBytes);
    return this.socket.address().port;
  }

  write(kind: MediaKind, clip: Clip, payload: Buffer, marker: boolean, seq: number, timestamp: number): void {
    const packet = Buffer.allocUnsafe(12 + payload.length);
    packet[0] = 0x80;
    packet[1] = (marker ? 0x80 : 0) | clip.payloadType;
    packet.writeUInt16BE(seq, 2);
    packet.writeUInt32BE(timestamp, 4);
    packet.writeUInt32BE(this.ssrc[kind], 8);
    payload.copy(packet, 12);
    this.socket.send(packet, this.to, '127.0.0.1');
  }

  async close(): Promise<void> {
    this.closing = true;
    this.sending = false;
    this.socket.close();
  }
}

interface Call {
  index: number;
  customer: Side;
  agent: Side | null;
  contactId: string | null;
  customerToken: string | null;
  /** performance.now() when startAvCall was sent. */
  startedAt: number;
  error: string | null;
  /** Up after set-up, then down before or in the window: why (not counted in the loss). */
  dropped: string | null;
}

const calls: Call[] = [];
const byContact = new Map<string, Call>();
/** Agents' sides whose offer came before the customer's startAvCall answer. */
const earlyAgents = new Map<string, Side>();
const agentSockets: WebSocket[] = [];
const agentTokens: string[] = [];
const offersTaken = new Set<string>();
let port = 0;
let closing = false;
const failures: string[] = [];

// One clock for every side: all packets due are written every 5 ms.
const ticker = setInterval(() => {
  const now = performance.now();
  for (const c of calls) {
    c.customer.tick(now);
    c.agent?.tick(now);
  }
}, 5);

async function gql<T>(token: string | null, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: benchAvOrigin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) throw new Error(`${query.slice(0, 40)}: ${body.errors.map((e) => `${e.extensions?.code ?? ''} ${e.message}`).join('; ').slice(0, 300)}`);
  return body.data as T;
}

function connectAgent(token: string): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connection_ack in 60 s')), 60_000);
    socket.once('error', (e) => (clearTimeout(timer), reject(e)));
    socket.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('{"type":"next"')) {
        const m = JSON.parse(text) as { payload?: { data?: { agentOffers?: { offerId: string; state: string; contact: { id: string } } } } };
        const offer = m.payload?.data?.agentOffers;
        if (offer?.state === 'OFFERED') void takeOffer(token, offer.offerId, offer.contact.id);
      } else if (text.startsWith('{"type":"connection_ack"')) {
        clearTimeout(timer);
        socket.send(JSON.stringify({ type: 'subscribe', id: 'offers', payload: { query: 'subscription { agentOffers { offerId state contact { id } } }' } }));
        socket.on('close', (code) => {
          if (!closing) failures.push(`agent socket closed ${code}`);
        });
        resolve(socket);
      } else if (text.startsWith('{"type":"ping"')) socket.send('{"type":"pong"}');
      else if (text.startsWith('{"type":"error"')) failures.push(text.slice(0, 300));
    });
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
  });
}

let connectTimeoutMs = 120_000;

/** An agent takes an offered call with their own peer; it sends as soon as it is connected. */
async function takeOffer(token: string, offerId: string, contactId: string): Promise<void> {
  if (offersTaken.has(offerId)) return;
  offersTaken.add(offerId);
  const side = new WeriftSide(Math.random() * clips.video.durationMs);
  const call = byContact.get(contactId);
  if (call) call.agent = side;
  else earlyAgents.set(contactId, side);
  try {
    const sdp = await side.offer();
    const r = await gql<{ acceptAvCall: { sdp: string } }>(token, 'mutation($input: AcceptAvCallInput!) { acceptAvCall(input: $input) { sdp } }', { input: { contactId, offerId, sdp } });
    await side.answer(r.acceptAvCall.sdp, connectTimeoutMs);
    side.startSending(performance.now());
  } catch (err) {
    const c = byContact.get(contactId);
    if (c && !c.error) c.error = `agent: ${(err as Error).message}`;
    else failures.push(`agent: ${(err as Error).message}`);
  }
}

async function startCall(index: number, channelKey: string, groupId: string): Promise<void> {
  const side = new WeriftSide(Math.random() * clips.video.durationMs);
  const call: Call = { index, customer: side, agent: null, contactId: null, customerToken: null, startedAt: 0, error: null, dropped: null };
  calls.push(call);
  try {
    const token = (await gql<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey, name: `Bench ${index}` } })).startCustomerSession.token;
    call.customerToken = token;
    const sdp = await side.offer();
    call.startedAt = performance.now();
    const r = await gql<{ startAvCall: { contactId: string; sdp: string; videoCodec: string | null } }>(token, 'mutation($input: StartAvCallInput!) { startAvCall(input: $input) { contactId sdp videoCodec } }', {
      input: { clientCallId: randomUUID(), skillGroupId: groupId, sdp },
    });
    if (r.startAvCall.videoCodec !== 'VP8') throw new Error(`video codec ${r.startAvCall.videoCodec}`);
    call.contactId = r.startAvCall.contactId;
    byContact.set(call.contactId, call);
    call.agent = earlyAgents.get(call.contactId) ?? call.agent;
    earlyAgents.delete(call.contactId);
    await side.answer(r.startAvCall.sdp, connectTimeoutMs);
    side.startSending(performance.now());
  } catch (err) {
    call.error = `customer: ${(err as Error).message}`;
  }
}

/** Until every call has video both ways, failed, or the time is up. */
async function settle(timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const open = calls.filter((c) => !c.error && !(c.agent?.firstVideoAt && c.customer.firstVideoAt));
    if (open.length === 0) return;
    if (performance.now() > deadline) {
      for (const c of open) c.error = c.agent ? `no video both ways in ${timeoutMs / 1000} s (agent ${c.agent.firstVideoAt ? 'sees' : 'does not see'} the customer)` : `no agent took the call in ${timeoutMs / 1000} s`;
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sides = () => calls.flatMap((c) => (c.agent ? [c.customer, c.agent] : [c.customer]));
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let loopMaxMs = 0;
let windowCpu = process.cpuUsage();
let windowCpuMs = 0;

type Message =
  | { type: 'agents'; port: number; tokens: string[] }
  | { type: 'setup'; channelKey: string; groupId: string; calls: number; firstIndex: number; intervalMs: number; timeoutMs: number }
  | { type: 'bare-setup'; calls: number }
  | { type: 'bare-connect'; ports: { customer: number; agent: number }[] }
  | { type: 'quiet' | 'window-start' | 'window-stop' | 'counts' | 'teardown' | 'close' };

async function handle(m: Message): Promise<Record<string, unknown>> {
  switch (m.type) {
    case 'agents': {
      port = m.port;
      agentTokens.push(...m.tokens);
      for (const token of m.tokens) agentSockets.push(await connectAgent(token));
      return { type: 'agents-ok' };
    }
    case 'setup': {
      connectTimeoutMs = m.timeoutMs;
      // Agents that served a call of an earlier step are available again.
      await Promise.all(agentTokens.map((t) => gql(t, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }').catch((e: Error) => failures.push(e.message))));
      const started: Promise<void>[] = [];
      for (let i = 0; i < m.calls; i++) {
        started.push(startCall(m.firstIndex + i, m.channelKey, m.groupId));
        await new Promise((r) => setTimeout(r, m.intervalMs));
      }
      await Promise.all(started);
      await settle(m.timeoutMs);
      return {
        type: 'setup-done',
        calls: calls.map((c) => ({ index: c.index, contactId: c.contactId, error: c.error, firstVideoMs: c.agent?.firstVideoAt && c.startedAt ? c.agent.firstVideoAt - c.startedAt : null })),
      };
    }
    case 'bare-setup': {
      const ports: { customer: number; agent: number }[] = [];
      for (let i = 0; i < m.calls; i++) {
        const customer = new UdpSide(Math.random() * clips.video.durationMs);
        const agent = new UdpSide(Math.random() * clips.video.durationMs);
        calls.push({ index: i, customer, agent, contactId: null, customerToken: null, startedAt: 0, error: null, dropped: null });
        ports.push({ customer: await customer.bind(), agent: await agent.bind() });
      }
      return { type: 'bare-ports', ports };
    }
    case 'bare-connect': {
      m.ports.forEach((p, i) => {
        (calls[i]!.customer as UdpSide).to = p.customer;
        (calls[i]!.agent as UdpSide).to = p.agent;
      });
      return { type: 'bare-connected' };
    }
    case 'quiet':
      for (const s of sides()) s.sending = false;
      return { type: 'quiet-ok' };
    case 'window-start': {
      const now = performance.now();
      for (const c of calls) {
        if (c.error || !c.agent) continue;
        const why = downWhy({ customer: c.customer, agent: c.agent }, false);
        if (why) {
          c.dropped = `down before the window: ${why}`;
          continue;
        }
        for (const s of [c.customer, c.agent]) {
          for (const k of kinds) {
            s.sent[k] = 0;
            s.firstSeq[k] = s.players[k].seq;
            s.received[k].reset();
          }
          s.startSending(now);
        }
      }
      windowCpu = process.cpuUsage();
      loop.reset();
      return { type: 'window-started' };
    }
    case 'window-stop': {
      for (const s of sides()) s.sending = false;
      const cpu = process.cpuUsage(windowCpu);
      windowCpuMs = (cpu.user + cpu.system) / 1000;
      loopMaxMs = loop.max / 1e6;
      return { type: 'window-stopped' };
    }
    case 'counts': {
      for (const c of calls) {
        if (c.error || !c.agent) continue;
        for (const [from, to] of [[c.customer, c.agent], [c.agent, c.customer]] as const) for (const k of kinds) to.received[k].settle(from.firstSeq[k], from.sent[k]);
      }
      for (const c of calls) {
        if (!c.error && c.agent && !c.dropped) {
          const why = downWhy({ customer: c.customer, agent: c.agent }, true);
          if (why) c.dropped = `down in the window: ${why}`;
        }
      }
      const ok = calls.filter((c) => !c.error && c.agent && !c.dropped);
      const sum = (f: (c: Call) => number) => ok.reduce((n, c) => n + f(c), 0);
      const direction = (from: (c: Call) => Side, to: (c: Call) => Side) =>
        Object.fromEntries(kinds.map((k) => [k, { sent: sum((c) => from(c).sent[k]), unique: sum((c) => to(c).received[k].unique), total: sum((c) => to(c).received[k].total), worst: Math.max(0, ...ok.map((c) => 1 - to(c).received[k].unique / Math.max(1, from(c).sent[k]))) }]));
      return {
        type: 'counts',
        calls: ok.length,
        toAgent: direction((c) => c.customer, (c) => c.agent!),
        toCustomer: direction((c) => c.agent!, (c) => c.customer),
        cpuMs: windowCpuMs,
        loopMaxMs,
        dropped: calls.flatMap((c) => (c.dropped ? [{ contactId: c.contactId, why: c.dropped }] : [])),
        // Whose are Kefu's sockets (the bench names those that dropped packets): side and state of its call.
        kefuPorts: calls.flatMap((c) => {
          const state = c.error ? 'failed at set-up' : c.dropped ? 'down' : 'up';
          return [
            ...(c.customer.kefuPort ? [{ port: c.customer.kefuPort, who: `customer (call ${state})` }] : []),
            ...(c.agent?.kefuPort ? [{ port: c.agent.kefuPort, who: `agent (call ${state})` }] : []),
          ];
        }),
        failures: failures.splice(0, 5),
      };
    }
    case 'teardown': {
      // The customers end their calls (endChat), then every peer closes.
      await Promise.all(calls.map((c) => (c.contactId && c.customerToken ? gql(c.customerToken, 'mutation($input: EndChatInput!) { endChat(input: $input) { status } }', { input: { contactId: c.contactId } }).catch((e: Error) => failures.push(`endChat: ${e.message}`)) : undefined)));
      await Promise.all([...sides(), ...earlyAgents.values()].map((s) => s.close()));
      calls.length = 0;
      byContact.clear();
      earlyAgents.clear();
      return { type: 'torn' };
    }
    case 'close': {
      closing = true;
      clearInterval(ticker);
      for (const s of agentSockets) s.close();
      await Promise.all(sides().map((s) => s.close()));
      process.exit(0);
    }
  }
}

process.on('message', (m: Message) => {
  handle(m).then(
    (reply) => process.send!(reply),
    (err: unknown) => process.send!({ type: 'error', message: (err as Error).message }),
  );
});
process.send!({ type: 'ready' });

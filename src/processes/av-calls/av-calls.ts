// Customers' audio/video calls on this Kefu process (issue 14). The call is an AV contact (queued, offered,
// accepted, transferred and ended by the same contact decider, router and API as any contact); this process
// holds its media: the customer's peer from the start, the serving agent's peer once they accept, and a WebM
// recording per participant. It follows the contact's events (a transfer drops the agent's peer, an end
// closes everything) and ends the contact when the customer's browser is gone for longer than the grace
// period ('customerDisconnected'), or hands it back to the queue or ends it when the agent's browser is gone
// (the skill group's onAgentDeviceLost, as for softphone calls). It never decides routing.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CommandHandler } from '../../adapters/eventstore/command-handler.ts';
import { LocalAvMedia, type AvGoneCause, type AvMedia, type AvMediaCall, type AvMediaPeer, type AvMediaRecording } from '../../adapters/webrtc/av-media.ts';
import { ThreadedAvMedia } from '../../adapters/webrtc/av-media-threads.ts';
import type { AvPeerOptions } from '../../adapters/webrtc/av-peer.ts';
import { AvOfferError, checkAvOffer, defaultAvOfferLimits } from '../../adapters/webrtc/av-offer.ts';
import { warnIfReceiveBufferCapped } from '../../adapters/webrtc/werift-udp-buffers.ts';
import type { AvCallKind } from '../../domain/web-channel/av-settings.ts';
import { contactDecider, type ContactCommand } from '../../domain/contact/contact.decide.ts';
import { ConflictError, DomainError, NotFoundError, RateLimitedError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import type { AgentDeviceLost } from '../../domain/skill-group/skill-group.ts';
import type { ContactWatch } from '../calls/contact-watch.ts';
import type { ReadModel } from '../../projections/projection.ts';

export interface AvCallsOptions extends AvPeerOptions {
  commands: CommandHandler;
  watch: ContactWatch;
  /** A customer's browser gone (no RTP, or its connection closed) this long ends the call. */
  graceMs: number;
  /** How long a browser has to connect (ICE, DTLS) after Kefu's answer, when that is longer than the grace period (default 30 s). */
  connectTimeoutMs?: number;
  /** Most calls in progress at once per visitor and per client address (0: no limit). */
  maxPerVisitor: number;
  maxPerAddress: number;
  /** Record each participant (WebM); off: no recordings. */
  record: boolean;
  /** Worker threads building the recordings (default 1; with media threads, this many per media thread). */
  recordingThreads?: number;
  /** Worker threads holding the calls' media (peers, relay, recordings' feed); 0 (default): the main thread. */
  mediaThreads?: number;
  /** Where a recording goes (the folder is created). */
  recordingPath(instanceId: string, recordingId: string): Promise<string>;
  onAgentDeviceLost(instanceId: string, skillGroupId: string): Promise<AgentDeviceLost>;
  logger: Logger;
  clock: () => Date;
}

interface Session {
  instanceId: string;
  contactId: string;
  visitorKey: string;
  addressKey: string | null;
  call: AvMediaCall;
  skillGroupId: string | null;
  recordings: Map<string, { recording: AvMediaRecording; agentId: string | null }>;
  unwatch: () => void;
  ended: boolean;
  /** When the agent's peer was attached (its media timeout counts from there). */
  agentSince: number;
  /** The kinds of call the chosen menu entry takes (an audio call becomes a video call only if VIDEO is one). */
  kinds: readonly AvCallKind[];
  /** Subscribers to the call's media state (avCallMedia): the customer's and the serving agent's pages. */
  mediaListeners: Set<(state: AvMediaState | null) => void>;
  /** New offers taken on this call so far (at most maxRenegotiations). */
  renegotiations: number;
}

/** New offers one call takes (both sides together): enough for video on and off many times, not a CPU sink. */
export const maxRenegotiations = 30;

/** What each side's browser has negotiated: the agent's page renegotiates when the customer has video and it has not. */
export interface AvMediaState {
  contactId: string;
  customerVideo: boolean;
  agentVideo: boolean;
  videoCodec: string | null;
  agentId: string | null;
}

/** Who asks about a call's media: its customer (their visitor key) or an agent. */
export type AvParty = { kind: 'customer'; visitorKey: string } | { kind: 'agent'; agentId: string };

export class AvCalls {
  private readonly o: AvCallsOptions;
  private readonly sessions = new Map<string, Session>();
  private readonly media: AvMedia;
  private readonly watchdog: NodeJS.Timeout;
  private stopping = false;

  constructor(o: AvCallsOptions) {
    this.o = o;
    const recordingThreads = o.recordingThreads ?? 1;
    this.media = (o.mediaThreads ?? 0) > 0 ? new ThreadedAvMedia(o, o.mediaThreads!, recordingThreads) : new LocalAvMedia(o, recordingThreads);
    this.watchdog = setInterval(() => this.checkMedia(), 500);
    this.watchdog.unref();
  }

  async start(): Promise<void> {
    // The media threads start with Kefu, not on the first call (which would wait for a worker to load werift).
    const media = this.media.start().catch((err: unknown) => this.o.logger.error({ err }, 'AV media threads did not start; they are tried again on the next call'));
    // A receive buffer the OS caps (net.core.rmem_max) is told once here, not found later as packet loss.
    const buffers = warnIfReceiveBufferCapped(this.o.logger).catch((err: unknown) => this.o.logger.warn({ err }, 'could not check the UDP receive buffer size'));
    await this.o.watch.start((err) => this.o.logger.error({ err }, 'AV contact watch failed'));
    await Promise.all([media, buffers]);
  }

  get activeCalls(): number {
    return this.sessions.size;
  }

  /** The call's media on this process, if any. */
  callOf(instanceId: string, contactId: string): AvMediaCall | null {
    const s = this.sessions.get(`${instanceId}/${contactId}`);
    return s && !s.ended ? s.call : null;
  }

  /**
   * The customer's side of a new call: checks the limits, answers the offer, then runs `start` (the contact's
   * StartChat in AV) and keeps the peer. Nothing is left behind when the offer or the command fails.
   */
  async startCustomer(
    call: { instanceId: string; contactId: string; visitorKey: string; addressKey: string | null; offerSdp: string; skillGroupId: string; kinds?: readonly AvCallKind[] },
    start: () => Promise<boolean>,
  ): Promise<AvMediaPeer> {
    if (this.stopping) throw new ConflictError('Kefu is stopping; call again in a moment');
    const k = `${call.instanceId}/${call.contactId}`;
    if (this.sessions.has(k)) throw new ConflictError(`Call ${call.contactId} has its media already`);
    const mine = [...this.sessions.values()].filter((s) => !s.ended);
    if (this.o.maxPerVisitor > 0 && mine.filter((s) => s.visitorKey === call.visitorKey).length >= this.o.maxPerVisitor) {
      throw new RateLimitedError(`At most ${this.o.maxPerVisitor} audio/video call(s) at once per visitor; end the other call first`, 5);
    }
    if (call.addressKey && this.o.maxPerAddress > 0 && mine.filter((s) => s.addressKey === call.addressKey).length >= this.o.maxPerAddress) {
      throw new RateLimitedError(`At most ${this.o.maxPerAddress} audio/video calls at once from one address`, 5);
    }
    const kinds = call.kinds ?? (['AUDIO', 'VIDEO'] as const);
    const offer = checkAvOffer(call.offerSdp, this.o.limits ?? defaultAvOfferLimits);
    if (offer.video && !kinds.includes('VIDEO')) throw new AvOfferError('the offer has video; this menu entry takes audio calls only');
    if (!offer.video && !kinds.includes('AUDIO')) throw new AvOfferError('the offer is audio only; this menu entry takes video calls only');
    const peer = await this.media.answer(call.offerSdp);
    const session: Session = {
      instanceId: call.instanceId,
      contactId: call.contactId,
      visitorKey: call.visitorKey,
      addressKey: call.addressKey,
      call: this.media.call(peer),
      skillGroupId: call.skillGroupId,
      recordings: new Map(),
      unwatch: () => undefined,
      ended: false,
      agentSince: 0,
      kinds,
      mediaListeners: new Set(),
      renegotiations: 0,
    };
    // Held before the command, so a limit counts it and the watch sees its events from the first one.
    this.sessions.set(k, session);
    session.unwatch = this.o.watch.watch(streams.contact(call.instanceId, call.contactId), (e) => this.onContactEvent(session, e.type, e.data as Record<string, unknown>));
    peer.onGone((why, cause) => void this.customerGone(session, why, cause));
    try {
      const queued = await start();
      if (!queued) await this.finish(session);
    } catch (err) {
      await this.finish(session);
      throw err;
    }
    void peer.whenConnected().then(() => this.startRecording(session, peer, null));
    return peer;
  }

  /**
   * The agent's side: answers their offer with the customer's video codec, runs `accept` (AcceptOffer), and
   * joins the two peers. The customer's media must be on this process.
   */
  async acceptAgent(call: { instanceId: string; contactId: string; agentId: string; offerSdp: string }, accept: () => Promise<void>): Promise<AvMediaPeer> {
    const session = this.sessions.get(`${call.instanceId}/${call.contactId}`);
    if (!session || session.ended) throw new ConflictError(`Call ${call.contactId} has no customer media on this Kefu process (it ended, or its customer is connected to another node)`);
    // An audio call that may become a video call keeps the agent's video m-line, inactive, for later.
    const peer = await this.media.answer(call.offerSdp, session.call.customer.videoCodec, session.kinds.includes('VIDEO'), session.call.customer);
    try {
      await accept();
    } catch (err) {
      await peer.close();
      throw err;
    }
    if (session.ended) {
      await peer.close();
      throw new ConflictError(`Call ${call.contactId} has ended`);
    }
    session.call.attachAgent(call.agentId, peer);
    session.agentSince = Date.now();
    this.publishMedia(session);
    peer.onGone((why, cause) => {
      // Kefu's media thread stopped: the customer's peer went with it, and its end ends the call.
      if (cause === 'browser') void this.agentGone(session, call.agentId, peer, why);
    });
    void peer.whenConnected().then(() => {
      if (session.call.agentPeer === peer) return this.startRecording(session, peer, call.agentId);
    });
    return peer;
  }

  /**
   * A new offer from one side's browser on its connection (renegotiation): the customer's adding video turns
   * an audio call into a video call (if the menu entry takes video); the serving agent's then adds theirs (its
   * page is told by avCallMedia). Each side's recording starts again, with video, in a new WebM.
   */
  async renegotiate(call: { instanceId: string; contactId: string; party: AvParty; offerSdp: string }): Promise<AvMediaPeer> {
    const session = this.sessionOf(call.instanceId, call.contactId, call.party);
    const customerSide = call.party.kind === 'customer';
    const peer = customerSide ? session.call.customer : session.call.agentPeer!;
    if (++session.renegotiations > maxRenegotiations) throw new RateLimitedError(`At most ${maxRenegotiations} new offers per call`, 60);
    if (customerSide) {
      const offer = checkAvOffer(call.offerSdp, this.o.limits ?? defaultAvOfferLimits);
      if (offer.video && !peer.videoCodec && !session.kinds.includes('VIDEO')) throw new AvOfferError('this call takes audio only (its menu entry has no VIDEO)');
    }
    const hadVideo = peer.videoCodec !== null;
    const other = customerSide ? session.call.agentPeer : session.call.customer;
    // The customer's codec leads: the agent's side must take it; the customer takes the agent's if it has one.
    await peer.renegotiate(call.offerSdp, customerSide ? (other?.videoCodec ?? other?.reservedVideoCodec ?? undefined) : session.call.customer.videoCodec);
    this.publishMedia(session);
    if (!hadVideo && peer.videoCodec) void this.restartRecordingWithVideo(session, peer, customerSide ? null : (call.party as { agentId: string }).agentId);
    // Whoever watches the new video needs a keyframe to start.
    for (const ms of [300, 1500, 4000]) {
      setTimeout(() => {
        if (session.ended) return;
        peer.requestKeyframe();
        other?.requestKeyframe();
      }, ms).unref();
    }
    return peer;
  }

  /** The call of this customer or serving agent, on this process (NOT_FOUND as if there were none otherwise). */
  private sessionOf(instanceId: string, contactId: string, party: AvParty): Session {
    const session = this.sessions.get(`${instanceId}/${contactId}`);
    const mine = session && !session.ended && (party.kind === 'customer' ? session.visitorKey === party.visitorKey : session.call.agentId === party.agentId && session.call.agentPeer !== null);
    if (!session || !mine) throw new NotFoundError('AV call', contactId);
    return session;
  }

  private mediaState(session: Session): AvMediaState {
    const agent = session.call.agentPeer;
    return { contactId: session.contactId, customerVideo: session.call.customer.videoCodec !== null, agentVideo: agent?.videoCodec != null, videoCodec: session.call.customer.videoCodec ?? agent?.videoCodec ?? null, agentId: session.call.agentId };
  }

  private publishMedia(session: Session): void {
    const state = this.mediaState(session);
    for (const listener of session.mediaListeners) listener(state);
  }

  /**
   * The call's media state now and at each change, for its customer or serving agent; ends with the call
   * (or when the agent no longer serves it).
   */
  watchMedia(instanceId: string, contactId: string, party: AvParty): AsyncIterableIterator<AvMediaState> {
    const session = this.sessionOf(instanceId, contactId, party);
    const queue: AvMediaState[] = [this.mediaState(session)];
    let wake: ((r: IteratorResult<AvMediaState>) => void) | null = null;
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      session.mediaListeners.delete(listener);
      wake?.({ value: undefined, done: true });
      wake = null;
    };
    const listener = (state: AvMediaState | null) => {
      if (!open) return;
      if (state === null || (party.kind === 'agent' && state.agentId !== party.agentId)) return close();
      if (wake) {
        const w = wake;
        wake = null;
        w({ value: state, done: false });
      } else queue.push(state);
    };
    session.mediaListeners.add(listener);
    const iterator: AsyncIterableIterator<AvMediaState> = {
      next: () => {
        const state = queue.shift();
        if (state) return Promise.resolve({ value: state, done: false });
        if (!open) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (wake = resolve));
      },
      return: () => {
        close();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** A participant's video started: their audio-only WebM is completed and a new one (audio and video) begins. */
  private async restartRecordingWithVideo(session: Session, peer: AvMediaPeer, agentId: string | null): Promise<void> {
    // The new track appears as the browser's first video packets arrive.
    const deadline = Date.now() + 30_000;
    while (!peer.hasTrack('video') && Date.now() < deadline && !session.ended) await new Promise((r) => setTimeout(r, 100));
    if (session.ended || !peer.hasTrack('video')) return;
    if (agentId !== null && session.call.agentPeer !== peer) return;
    await this.stopRecordingsOf(session, agentId);
    await this.startRecording(session, peer, agentId);
    // The new WebM's video starts at a keyframe: ask the browser for one (browsers send them rarely unasked).
    for (const ms of [0, 500, 1500, 3000]) {
      setTimeout(() => {
        if (!session.ended) peer.requestKeyframe();
      }, ms).unref();
    }
  }

  private onContactEvent(session: Session, type: string, data: Record<string, unknown>): void {
    switch (type) {
      case 'ContactQueued':
        session.skillGroupId = String(data.skillGroupId);
        return;
      case 'ContactTransferred': {
        if (data.toSkillGroupId) session.skillGroupId = String(data.toSkillGroupId);
        const agentId = session.call.agentId;
        session.call.detachAgent();
        session.call.setHeld(false);
        if (agentId) void this.stopRecordingsOf(session, agentId);
        this.publishMedia(session);
        return;
      }
      case 'ContactEnded':
      case 'ContactRejected':
        void this.finish(session);
        return;
      case 'CallHeld':
        session.call.setHeld(true);
        return;
      case 'CallResumed':
        session.call.setHeld(false);
        return;
      default:
        return;
    }
  }

  private async startRecording(session: Session, peer: AvMediaPeer, agentId: string | null): Promise<void> {
    if (!this.o.record || session.ended) return;
    const recordingId = randomUUID();
    try {
      const path = await this.o.recordingPath(session.instanceId, recordingId);
      const recording = await this.media.record(peer, { recordingId, path }, (err) => this.o.logger.warn({ err, contactId: session.contactId }, 'AV recording failed'));
      if (!recording) return;
      const ok = await this.command(session, { type: 'StartRecording', data: { contactId: session.contactId, recordingId, agentId } });
      if (!ok) {
        await recording.stop();
        return;
      }
      session.recordings.set(recordingId, { recording, agentId });
      if (session.ended || (agentId !== null && session.call.agentPeer !== peer)) await this.stopRecording(session, recordingId);
    } catch (err) {
      this.o.logger.warn({ err, contactId: session.contactId }, 'AV recording could not start');
    }
  }

  private async stopRecordingsOf(session: Session, agentId: string | null): Promise<void> {
    await Promise.all([...session.recordings].filter(([, r]) => r.agentId === agentId).map(([id]) => this.stopRecording(session, id)));
  }

  private async stopRecording(session: Session, recordingId: string): Promise<void> {
    const entry = session.recordings.get(recordingId);
    if (!entry) return;
    session.recordings.delete(recordingId);
    const { durationMs, bytes } = await entry.recording.stop();
    await this.command(session, { type: 'CompleteRecording', data: { contactId: session.contactId, recordingId, durationMs, bytes } });
  }

  /**
   * The customer's peer closed or failed: no coming back (a new offer would be a new call). Gone because of Kefu
   * (the media thread holding the call stopped): the call ends as a system error.
   */
  private async customerGone(session: Session, why: string, cause: AvGoneCause = 'browser'): Promise<void> {
    if (session.ended) return;
    if (cause === 'kefu') this.o.logger.error({ contactId: session.contactId, why }, 'AV call media lost');
    else this.o.logger.info({ contactId: session.contactId, why }, "AV customer's browser gone");
    await this.command(session, { type: 'EndContact', data: { contactId: session.contactId, reason: cause === 'kefu' ? 'systemError' : 'customerDisconnected', endedBy: 'SYSTEM', agentId: null } });
    await this.finish(session);
  }

  private async agentGone(session: Session, agentId: string, peer: AvMediaPeer, why: string): Promise<void> {
    if (session.ended || session.call.agentPeer !== peer) return;
    this.o.logger.info({ contactId: session.contactId, agentId, why }, "AV agent's browser gone");
    session.call.detachAgent();
    void this.stopRecordingsOf(session, agentId);
    this.publishMedia(session);
    const group = session.skillGroupId;
    const setting = group ? await this.o.onAgentDeviceLost(session.instanceId, group).catch(() => 'END' as const) : 'END';
    if (setting === 'REQUEUE' && group) {
      const requeued = await this.command(session, {
        type: 'TransferContact',
        data: { contactId: session.contactId, agentId, toAgentId: null, toSkillGroupId: group, note: 'agent device lost' },
      });
      if (requeued) return;
    }
    await this.command(session, { type: 'EndContact', data: { contactId: session.contactId, reason: 'agentDeviceLost', endedBy: 'SYSTEM', agentId: null } });
  }

  private checkMedia(): void {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      if (session.ended) continue;
      // Before its first connection a browser gets longer: ICE and DTLS take a while on a busy machine.
      const limit = (peer: { connected: boolean }) => (peer.connected ? this.o.graceMs : Math.max(this.o.graceMs, this.o.connectTimeoutMs ?? 30_000));
      const customer = session.call.customer;
      if (now - customer.lastRtpAt > limit(customer)) void this.customerGone(session, `no media for ${limit(customer)} ms`);
      const agent = session.call.agentPeer;
      const agentId = session.call.agentId;
      if (agent && agentId && now - Math.max(agent.lastRtpAt, session.agentSince) > limit(agent)) void this.agentGone(session, agentId, agent, `no media for ${limit(agent)} ms`);
    }
  }

  private async command(session: Session, command: Omit<ContactCommand, 'metadata'>): Promise<boolean> {
    try {
      await this.o.commands.handle(streams.contact(session.instanceId, session.contactId), contactDecider, {
        ...command,
        metadata: { now: this.o.clock().toISOString(), instanceId: session.instanceId, actor: 'system:av', correlationId: session.contactId },
      } as ContactCommand);
      return true;
    } catch (err) {
      if (err instanceof DomainError) {
        this.o.logger.debug({ err, contactId: session.contactId, command: command.type }, 'AV command refused');
        return false;
      }
      this.o.logger.error({ err, contactId: session.contactId, command: command.type }, 'AV command failed');
      return false;
    }
  }

  /** The call is over: peers closed, recordings completed, the session forgotten. */
  private async finish(session: Session): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    session.unwatch();
    for (const listener of [...session.mediaListeners]) listener(null);
    await session.call.close();
    await Promise.all([...session.recordings.keys()].map((id) => this.stopRecording(session, id)));
    this.sessions.delete(`${session.instanceId}/${session.contactId}`);
  }

  /**
   * Ends the AV calls an earlier run left open (a crash, kill -9): their media lived in that process and is gone,
   * so nobody stays "connected" to nobody (systemError). Calls started after `startedAt` are this run's. AV media
   * is held by the process that took the customer's offer: one Kefu process takes AV calls per database.
   */
  async endOrphanedCalls(db: ReadModel, startedAt: Date): Promise<number> {
    const rows = await db
      .selectFrom('contacts')
      .select(['instance_id', 'id'])
      .where('channel', '=', 'AV')
      .where('status', 'not in', ['ENDED', 'REJECTED'])
      .where('created_at', '<', startedAt)
      .execute();
    let ended = 0;
    for (const row of rows) {
      if (this.sessions.has(`${row.instance_id}/${row.id}`)) continue;
      try {
        const { events } = await this.o.commands.handle(streams.contact(row.instance_id, row.id), contactDecider, {
          type: 'EndContact',
          data: { contactId: row.id, reason: 'systemError', endedBy: 'SYSTEM', agentId: null },
          metadata: { now: this.o.clock().toISOString(), instanceId: row.instance_id, actor: 'system:av', correlationId: row.id },
        });
        if (events.length > 0) ended++;
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
      }
    }
    if (ended > 0) this.o.logger.warn({ ended }, 'ended AV calls left over by an earlier run');
    return ended;
  }

  /** Ends every call (systemError) and stops following contacts. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.watchdog);
    await Promise.all(
      [...this.sessions.values()].map(async (s) => {
        await this.command(s, { type: 'EndContact', data: { contactId: s.contactId, reason: 'systemError', endedBy: 'SYSTEM', agentId: null } });
        await this.finish(s);
      }),
    );
    await this.o.watch.stop();
    await this.media.close();
  }
}

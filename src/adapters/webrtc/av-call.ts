// The media of one customer's audio/video call (issue 14): the customer's peer for the whole call and the
// peer of the agent serving them now. RTP goes from one to the other as it came (no decoding); a browser's
// keyframe request (PLI or FIR) is passed to the other browser, and each browser's lost packets are resent
// from werift's send history (NACK). A transfer swaps the agent's peer while the customer's stays, so the
// customer's media goes on. Each participant's media is recorded to its own WebM file as it arrives.
import { stat } from 'node:fs/promises';
import type { AvKind, AvPeer } from './av-peer.ts';
import type { AvRecordingThreads, ThreadRecording } from './av-recording-threads.ts';
import { KeyframeWatch } from './video-keyframes.ts';
// werift's SRTP made a key object of the session key for every packet, its sockets kept the kernel's smallest
// receive buffer, its RTP headers were read and written through strings, and its DTLS handshake gave up on a
// late message after 4.5 s: all changed for the whole process (the recorder's jitter buffer fix is loaded by the
// recording worker, av-recording-worker.ts).
import './werift-dtls-patience.ts';
import './werift-rtp-fast-path.ts';
import './werift-srtp-keys.ts';
import './werift-udp-buffers.ts';

export interface AvRecordingTarget {
  recordingId: string;
  path: string;
}

/** How often a recording whose video has had no whole keyframe yet asks the browser for one (PLI). */
const keyframeAskMs = 1000;

/**
 * One participant's WebM recording: started when their peer is connected, stopped when their part ends.
 * werift's MediaRecorder builds the WebM on a recording worker thread (av-recording-threads.ts); this thread
 * only copies each packet of the participant's tracks there. The worker writes the file in order, takes
 * nothing after stop, and at the end writes the duration, the segment's size and each cluster's size.
 */
export class AvParticipantRecording {
  readonly recordingId: string;
  readonly path: string;
  readonly startedAt = Date.now();
  private thread: ThreadRecording | null = null;
  private readonly unsubscribe: (() => void)[] = [];
  private ended = false;
  private stopped: Promise<{ durationMs: number; bytes: number }> | null = null;

  constructor(peer: AvPeer, target: AvRecordingTarget, onError: (err: unknown) => void, threads: AvRecordingThreads) {
    this.recordingId = target.recordingId;
    this.path = target.path;
    // Video only once negotiated: a video m-line kept inactive (an audio call that may become video) has none.
    const kinds = peer.videoCodec ? (['audio', 'video'] as const) : (['audio'] as const);
    const tracks = kinds.flatMap((k) => {
      const track = peer.tracks.get(k);
      return track?.codec ? [{ track, codec: track.codec }] : [];
    });
    if (tracks.length === 0) return;
    const thread = threads.start(
      this.path,
      tracks.map(({ track, codec }) => ({ kind: track.kind as AvKind, codec: codec.name, payloadType: codec.payloadType })),
      { width: 640, height: 480 },
      onError,
    );
    this.thread = thread;
    tracks.forEach(({ track, codec }, i) => {
      // werift's recorder writes no video before a keyframe: until one has come whole, the browser is asked again.
      const watch = track.kind === 'video' ? new KeyframeWatch(codec.name) : null;
      let firstAt = 0;
      let askedAt = 0;
      const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => {
        thread.feed(i, rtp);
        if (!watch || watch.whole) return;
        const h = rtp.header;
        if (watch.packet(h.sequenceNumber, h.timestamp, h.marker, rtp.payload)) return;
        const now = Date.now();
        if (firstAt === 0) firstAt = now;
        if (now - firstAt >= keyframeAskMs / 2 && now - askedAt >= keyframeAskMs) {
          askedAt = now;
          peer.requestKeyframe();
        }
      });
      this.unsubscribe.push(unSubscribe);
    });
  }

  /** Closes the file (nothing is written to it after); the duration is the participant's recorded time. */
  stop(): Promise<{ durationMs: number; bytes: number }> {
    this.stopped ??= (async () => {
      const durationMs = Date.now() - this.startedAt;
      for (const off of this.unsubscribe.splice(0)) off();
      // werift's stop flushes and ends the WebM (its eol), waiting up to 5 s for it; on a starved machine its
      // pipeline may take longer still: the file is closed after 15 s whatever (it plays, maybe without duration).
      if (!this.thread) return { durationMs, bytes: await stat(this.path).then((st) => st.size, () => 0) };
      const { bytes, complete } = await this.thread.stop(15_000);
      this.ended = complete;
      return { durationMs, bytes };
    })();
    return this.stopped;
  }

  get recording(): boolean {
    return this.thread !== null;
  }

  /** The WebM was ended properly (duration written). */
  get complete(): boolean {
    return this.ended;
  }
}

interface AgentLeg {
  agentId: string;
  peer: AvPeer;
  unwire: () => void;
}

export class AvCall {
  readonly customer: AvPeer;
  private agent: AgentLeg | null = null;
  private keyframeTimers: NodeJS.Timeout[] = [];
  private closed = false;
  /** On hold: nothing is relayed either way (the two browsers' RTP is dropped here). */
  private held = false;

  constructor(customer: AvPeer) {
    this.customer = customer;
  }

  get agentId(): string | null {
    return this.agent?.agentId ?? null;
  }

  get agentPeer(): AvPeer | null {
    return this.agent?.peer ?? null;
  }

  /** The agent's peer joins: media flows both ways from now; an earlier agent's peer is closed. */
  attachAgent(agentId: string, peer: AvPeer): void {
    if (this.closed) throw new Error('the call has ended');
    this.detachAgent();
    const customer = this.customer;
    const forward = (to: AvPeer) => (kind: AvKind, rtp: Parameters<AvPeer['send']>[1]) => {
      if (!this.held) to.send(kind, rtp);
    };
    const offs = [
      customer.onRtp(forward(peer)),
      peer.onRtp(forward(customer)),
      peer.onKeyframeRequest(() => customer.requestKeyframe()),
      customer.onKeyframeRequest(() => peer.requestKeyframe()),
    ];
    // The customer's browser now gets packets from another source: its stream stays continuous.
    customer.newSource();
    this.agent = { agentId, peer, unwire: () => offs.forEach((off) => off()) };
    // Each new viewer needs a keyframe to start decoding; ask a few times while DTLS settles.
    void peer.whenConnected().then(() => {
      if (this.agent?.peer !== peer) return;
      for (const ms of [0, 500, 1500, 3000]) {
        const timer = setTimeout(() => {
          if (this.agent?.peer !== peer) return;
          customer.requestKeyframe();
          peer.requestKeyframe();
        }, ms);
        timer.unref();
        this.keyframeTimers.push(timer);
      }
    });
  }

  /** Hold (nothing relayed either way) or resume (relayed again, each side asked for a keyframe). */
  setHeld(held: boolean): void {
    if (this.held === held) return;
    this.held = held;
    if (held) return;
    this.customer.newSource();
    this.agent?.peer.newSource();
    this.customer.requestKeyframe();
    this.agent?.peer.requestKeyframe();
  }

  /** The agent's peer leaves (a transfer, or their browser vanished); the customer's stays. */
  detachAgent(): AvPeer | null {
    const leg = this.agent;
    if (!leg) return null;
    this.agent = null;
    leg.unwire();
    for (const t of this.keyframeTimers) clearTimeout(t);
    this.keyframeTimers = [];
    void leg.peer.close();
    return leg.peer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.detachAgent();
    await this.customer.close();
  }
}

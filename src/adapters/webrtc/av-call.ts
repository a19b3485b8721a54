// The media of one customer's audio/video call (issue 14): the customer's peer for the whole call and the
// peer of the agent serving them now. RTP goes from one to the other as it came (no decoding); a browser's
// keyframe request (PLI or FIR) is passed to the other browser, and each browser's lost packets are resent
// from werift's send history (NACK). A transfer swaps the agent's peer while the customer's stays, so the
// customer's media goes on. Each participant's media is recorded to its own WebM file as it arrives.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Event } from 'werift';
import { DurationPosition, MediaRecorder, replaceSegmentSize, SegmentSizePosition, type WebmOutput } from 'werift/nonstandard';
import type { AvKind, AvPeer } from './av-peer.ts';
// werift's recorder walked its jitter buffer round all sequence numbers after each lost video packet, its
// SRTP made a key object of the session key for every packet, and its sockets kept the kernel's smallest
// receive buffer: all three changed for the whole process.
import './werift-jitter-buffer.ts';
import './werift-srtp-keys.ts';
import './werift-udp-buffers.ts';

export interface AvRecordingTarget {
  recordingId: string;
  path: string;
}

/**
 * One participant's WebM recording: started when their peer is connected, stopped when their part ends.
 * werift's MediaRecorder builds the WebM; this class writes its output itself, in order, and takes nothing
 * after stop (werift's own file sink goes on appending what its buffers still hold after stop, so a file
 * reported complete kept growing). At the end the header gets the duration and segment size, as werift's
 * sink writes them.
 */
export class AvParticipantRecording {
  readonly recordingId: string;
  readonly path: string;
  readonly startedAt = Date.now();
  private recorder: MediaRecorder | null = null;
  private writing: Promise<void> = Promise.resolve();
  /** Chunks not yet written, and the file they are appended to. */
  private pending: Uint8Array[] = [];
  private file: FileHandle | null = null;
  private open = true;
  private ended = false;
  private stopped: Promise<{ durationMs: number; bytes: number }> | null = null;

  constructor(peer: AvPeer, target: AvRecordingTarget, onError: (err: unknown) => void) {
    this.recordingId = target.recordingId;
    this.path = target.path;
    // Video only once negotiated: a video m-line kept inactive (an audio call that may become video) has none.
    const kinds = peer.videoCodec ? (['audio', 'video'] as const) : (['audio'] as const);
    const tracks = kinds.map((k) => peer.tracks.get(k)).filter((t) => t !== undefined && t.codec !== undefined);
    if (tracks.length === 0) return;
    const stream = new Event<[WebmOutput]>();
    stream.subscribe((o) => {
      if (!this.open) return;
      if (o.saveToFile) {
        // werift hands out a chunk per block (some 80 a second with video): they are written in batches, each
        // batch once the one before is on disk, to a file opened once (not an open, write and close per chunk).
        this.pending.push(o.saveToFile);
        if (this.pending.length === 1) this.writing = this.writing.then(() => this.flush()).catch(onError);
      } else if (o.eol) {
        const { durationElement } = o.eol;
        this.ended = true;
        this.writing = this.writing.then(() => this.closeFile()).then(() => this.finishHeader(durationElement)).catch(onError);
      }
    });
    // disableNtp: werift's NTP clock holds every packet until the sender's first RTCP sender report (browsers
    // send one after a few seconds; a peer that never does would grow that buffer without bound), and a
    // recording stopped before it held a header only. The RTP timestamps give each track its time instead.
    this.recorder = new MediaRecorder({ stream, tracks: tracks as NonNullable<(typeof tracks)[number]>[], width: 640, height: 480, disableNtp: true });
    this.recorder.onError.subscribe((err) => onError(err));
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    this.file ??= await open(this.path, 'a');
    await this.file.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch));
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = null;
    await file?.close();
  }

  private async finishHeader(durationElement: Uint8Array): Promise<void> {
    const file = await open(this.path, 'r+');
    try {
      await file.write(durationElement, 0, durationElement.length, DurationPosition);
      const resize = replaceSegmentSize((await file.stat()).size);
      await file.write(resize, 0, resize.length, SegmentSizePosition);
    } finally {
      await file.close();
    }
  }

  /** Closes the file (nothing is written to it after); the duration is the participant's recorded time. */
  stop(): Promise<{ durationMs: number; bytes: number }> {
    this.stopped ??= (async () => {
      const durationMs = Date.now() - this.startedAt;
      // werift's stop flushes and ends the WebM (its eol), waiting up to 5 s for it; on a starved machine its
      // pipeline may take longer still: the file is closed after 15 s whatever (it plays, maybe without duration).
      if (this.recorder) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.recorder.stop().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 15_000)))]);
        clearTimeout(timer);
      }
      this.open = false;
      await this.writing;
      await this.closeFile().catch(() => undefined);
      const bytes = await stat(this.path).then((st) => st.size, () => 0);
      return { durationMs, bytes };
    })();
    return this.stopped;
  }

  get recording(): boolean {
    return this.recorder !== null;
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

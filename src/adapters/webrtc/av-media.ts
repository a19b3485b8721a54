// Where the media of customers' AV calls runs (issue 14): what AvCalls (src/processes/av-calls) needs of a
// browser's peer, of a call joining two peers and of a participant's recording, and two hosts giving them.
// LocalAvMedia runs werift's peer connections on this thread (AvPeer, AvCall); ThreadedAvMedia
// (av-media-threads.ts) runs them on worker threads, each with a LocalAvMedia of its own, so that SRTP, the
// relay and the recorder's feed of every packet leave the main thread (KEFU_AV_MEDIA_THREADS).
import { AvCall, AvParticipantRecording, type AvRecordingTarget } from './av-call.ts';
import type { AvVideoCodec } from './av-offer.ts';
import { AvPeer, type AvKind, type AvPeerOptions } from './av-peer.ts';
import { AvRecordingThreads } from './av-recording-threads.ts';

/** Why a peer is gone: its browser (connection failed or closed), or Kefu (the thread holding its media stopped). */
export type AvGoneCause = 'browser' | 'kefu';

/** One browser's end of a call, as AvCalls sees it. */
export interface AvMediaPeer {
  /** Kefu's latest answer. */
  readonly answerSdp: string;
  /** The video codec negotiated, or null while this side has no video. */
  readonly videoCodec: AvVideoCodec | null;
  /** The codec of a video m-line kept inactive until a renegotiation turns it on. */
  readonly reservedVideoCodec: AvVideoCodec | null;
  /** Date.now() of the last RTP packet from the browser (or of the answer, before any). */
  readonly lastRtpAt: number;
  readonly connected: boolean;
  /** The browser's media of `kind` has arrived (its track and codec are known). */
  hasTrack(kind: AvKind): boolean;
  whenConnected(): Promise<void>;
  /** Called once when the peer is gone (not when close() is called here); returns the unsubscribe. */
  onGone(listener: (why: string, cause: AvGoneCause) => void): () => void;
  renegotiate(offerSdp: string, video?: AvVideoCodec | null): Promise<string>;
  requestKeyframe(): void;
  close(): Promise<void>;
}

/** A customer's peer and the serving agent's, media relayed between them. */
export interface AvMediaCall {
  readonly customer: AvMediaPeer;
  readonly agentId: string | null;
  readonly agentPeer: AvMediaPeer | null;
  /** The agent's peer (answered by the same host `near` the customer's) joins; an earlier agent's is closed. */
  attachAgent(agentId: string, peer: AvMediaPeer): void;
  setHeld(held: boolean): void;
  /** The agent's peer leaves and is closed; the customer's stays. */
  detachAgent(): AvMediaPeer | null;
  close(): Promise<void>;
}

/** One participant's WebM, recording until stopped. */
export interface AvMediaRecording {
  readonly recordingId: string;
  stop(): Promise<{ durationMs: number; bytes: number }>;
}

export interface AvMedia {
  /**
   * Answers a browser's complete offer (AvPeer.answer: `video`, `reserveVideo`). `near`: the customer's peer of
   * the call this one joins (an agent's peer is answered where the customer's media is).
   */
  answer(offerSdp: string, video?: AvVideoCodec | null, reserveVideo?: boolean, near?: AvMediaPeer): Promise<AvMediaPeer>;
  /** A call around the customer's peer (answered by this host). */
  call(customer: AvMediaPeer): AvMediaCall;
  /** Records `peer`'s tracks to `target`; null when it has none yet. */
  record(peer: AvMediaPeer, target: AvRecordingTarget, onError: (err: unknown) => void): Promise<AvMediaRecording | null>;
  /** Starts what the host runs on (its worker threads) before the first call; resolves when they take calls. */
  start(): Promise<void>;
  /** Stops the host (its calls' media ends with it). */
  close(): Promise<void>;
}

/** Peers, calls and recordings on this thread. */
export class LocalAvMedia implements AvMedia {
  private readonly o: AvPeerOptions;
  private readonly recorders: AvRecordingThreads;

  constructor(o: AvPeerOptions, recordingThreads: number) {
    this.o = o;
    this.recorders = new AvRecordingThreads(recordingThreads);
  }

  answer(offerSdp: string, video?: AvVideoCodec | null, reserveVideo = false): Promise<AvPeer> {
    return AvPeer.answer(offerSdp, this.o, video, reserveVideo);
  }

  // The peers given here are this host's own (AvPeer): a host only joins and records peers it answered.
  call(customer: AvMediaPeer): AvCall {
    return new AvCall(customer as AvPeer);
  }

  record(peer: AvMediaPeer, target: AvRecordingTarget, onError: (err: unknown) => void): Promise<AvParticipantRecording | null> {
    const recording = new AvParticipantRecording(peer as AvPeer, target, onError, this.recorders);
    return Promise.resolve(recording.recording ? recording : null);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return this.recorders.close();
  }
}

// Messages between the main thread and the AV media worker threads (av-media-threads.ts, av-media-worker.ts).
// Only signalling crosses: offers and answers, calls joined and left, hold, keyframe requests, recordings
// started and stopped; the worker tells of peers connected or gone and, every STATUS_MS, each peer's last RTP
// time and the kinds of media it has received. No packet crosses: each worker owns its peers' UDP sockets.
// Requests carry an id answered once by 'done' or 'failed'.
import type { AvVideoCodec } from './av-offer.ts';
import type { AvPeerOptions } from './av-peer.ts';

export interface MediaWorkerData {
  options: AvPeerOptions;
  recordingThreads: number;
}

export type ToMedia =
  | { op: 'answer'; id: number; peerId: number; offerSdp: string; video: AvVideoCodec | null | undefined; reserveVideo: boolean }
  | { op: 'renegotiate'; id: number; peerId: number; offerSdp: string; video: AvVideoCodec | null | undefined }
  | { op: 'closePeer'; id: number; peerId: number }
  | { op: 'keyframe'; peerId: number }
  | { op: 'call'; callId: number; customerId: number }
  | { op: 'attach'; callId: number; agentId: string; peerId: number }
  | { op: 'detach'; callId: number }
  | { op: 'hold'; callId: number; held: boolean }
  | { op: 'closeCall'; id: number; callId: number }
  | { op: 'record'; id: number; peerId: number; recordingId: string; path: string }
  | { op: 'stopRecording'; id: number; recordingId: string };

/** A peer's negotiated state, after an answer or a renegotiation. */
export interface NegotiatedPeer {
  answerSdp: string;
  videoCodec: AvVideoCodec | null;
  reservedVideoCodec: AvVideoCodec | null;
}

export type FromMedia =
  /** The worker has loaded its modules and takes requests (sent once, first). */
  | { ev: 'ready' }
  | { ev: 'done'; id: number; peer?: NegotiatedPeer; recording?: boolean; stopped?: { durationMs: number; bytes: number } }
  | { ev: 'failed'; id: number; message: string; offerError: boolean }
  | { ev: 'connected'; peerId: number }
  | { ev: 'gone'; peerId: number; why: string }
  | { ev: 'recordingError'; recordingId: string; message: string }
  /** Per peer: its id, its lastRtpAt, and 1 (audio) | 2 (video) for the kinds received. */
  | { ev: 'status'; peers: [number, number, number][] };

/** How often a worker tells each of its peers' last RTP time (the main thread's media watchdog reads it). */
export const STATUS_MS = 200;

// Messages between the ThreadedMediaEngine (main thread) and its media workers. Each worker runs its own
// UdpMediaEngine over its own slice of the RTP port range, so packets never cross threads: both legs of a
// call live in one worker, and only control (open, bridge, play, stop) and events (DTMF, playback done,
// stats) travel as messages. Piped legs (WebRTC) are the exception: their packets come from and go to the
// main thread by design.
import type { MediaEndpoint, RecordingResult, RtpLegStats } from '../media-port.ts';
import type { Codec, MediaFormat } from '../sdp.ts';

export interface WorkerSetup {
  bindAddress: string;
  publicAddress: string;
  portMin: number;
  portMax: number;
  /** How often the worker reports every leg's counters (ms). */
  statsIntervalMs: number;
}

/** Requests that want an answer carry `id`; the worker replies with a Reply of the same id. */
export type Request =
  | { id: number; op: 'openLeg'; label: string }
  | { id: number; op: 'openPipedLeg'; label: string }
  | { id: number; op: 'closeLeg'; leg: string }
  | { id: number; op: 'sendDtmf'; leg: string; digit: string; durationMs?: number }
  | { id: number; op: 'bridgeStop'; bridge: number }
  | { id: number; op: 'recordingStop'; bridge: number }
  /** Report every leg's counters now (a stats event), then reply. */
  | { id: number; op: 'stats' }
  | { id: number; op: 'close' };

/** Fire-and-forget commands: their effects are ordered after earlier messages, which is all the caller needs. */
export type Command =
  | { op: 'setRemote'; leg: string; remote: MediaEndpoint; codec: Codec; payloadType: number; dtmfPayloadType: number | null; alsoReceive: MediaFormat[] }
  | { op: 'deliver'; leg: string; packet: Uint8Array }
  | { op: 'audio'; audio: number; samples: Int16Array }
  | { op: 'dropAudio'; audio: number }
  | { op: 'play'; leg: string; playback: number; audio: number; loop: boolean }
  | { op: 'stopPlayback'; leg: string }
  | { op: 'stopPlay'; playback: number }
  | { op: 'bridge'; bridge: number; a: string; b: string; recordTo?: string }
  | { op: 'bridgePause'; bridge: number }
  | { op: 'bridgeResume'; bridge: number };

export type ToWorker = Request | Command;

export type Reply =
  | { id: number; ok: true; value?: { leg: string; local: MediaEndpoint } | RecordingResult | Required<RtpLegStats> | null }
  | { id: number; ok: false; error: string };

export type WorkerEvent =
  | { ev: 'dtmf'; leg: string; digit: string }
  | { ev: 'playDone'; playback: number; result: 'finished' | 'stopped' }
  | { ev: 'piped'; leg: string; packet: Uint8Array }
  | { ev: 'stats'; legs: [string, Required<RtpLegStats>][] }
  /** A command failed in the worker (a bridge of a leg that closed meanwhile): logged by the main thread. */
  | { ev: 'error'; message: string; context: string };

export type FromWorker = Reply | WorkerEvent;

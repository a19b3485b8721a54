// The AV bench's media (bench/av.ts): a clip encoded once by ffmpeg (Debian's) and cut into RTP payloads,
// so the stand-in browsers replay it without encoding anything. Video: a moving test pattern with noise,
// 640x480 at 30 fps, VP8 (libvpx, constant ~500 kbit/s, a keyframe every 2 s) from an IVF file, packetized
// here (RFC 7741 payload descriptor, payloads up to 1,100 bytes, the marker on a frame's last packet).
// Audio: a tone in Opus (libopus, 20 ms frames, 32 kbit/s) from an Ogg file, one frame per packet.
// The files are made once per machine (in the OS temp directory) and reused.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type MediaKind = 'audio' | 'video';

/** The page the bench's customers call from (the web channel's allowed origin). */
export const benchAvOrigin = 'https://shop.bench.example';

/** One RTP payload of the clip, with when it is sent (ms from the clip's start) and its RTP timestamp offset. */
export interface ClipPacket {
  atMs: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

export interface Clip {
  kind: MediaKind;
  payloadType: number;
  clockRate: number;
  /** The clip's length: it loops, its timestamps going on. */
  durationMs: number;
  packets: ClipPacket[];
  /** Payload bits per second of the clip. */
  bitsPerSecond: number;
}

export const clipSeconds = 10;
const videoFps = 30;
const maxVideoPayload = 1100;

function ffmpeg(args: string[], out: string): void {
  if (existsSync(out)) return;
  const tmp = `${out}.part`;
  try {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args, tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (err) {
    throw new Error(`ffmpeg (Debian package ffmpeg) could not make ${out}: ${(err as Error).message}`, { cause: err });
  }
  renameSync(tmp, out);
}

/** Makes the clip's files if needed; returns their directory. */
export function makeMediaFiles(dir = path.join(tmpdir(), 'kefu-bench-av-media')): string {
  mkdirSync(dir, { recursive: true });
  ffmpeg(
    ['-f', 'lavfi', '-i', `testsrc2=size=640x480:rate=${videoFps},noise=alls=12:allf=t`, '-t', String(clipSeconds), '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '500k', '-minrate', '500k', '-maxrate', '500k', '-g', String(2 * videoFps), '-f', 'ivf'],
    path.join(dir, 'video.ivf'),
  );
  ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(clipSeconds), '-c:a', 'libopus', '-b:a', '32k', '-frame_duration', '20', '-f', 'ogg'], path.join(dir, 'audio.ogg'));
  return dir;
}

/** VP8 frames of an IVF file (32-byte file header, then a 12-byte header before each frame). */
function ivfFrames(file: Buffer): Buffer[] {
  if (file.toString('latin1', 0, 4) !== 'DKIF') throw new Error('not an IVF file');
  const headerSize = file.readUInt16LE(6);
  const frames: Buffer[] = [];
  for (let at = headerSize; at + 12 <= file.length; ) {
    const size = file.readUInt32LE(at);
    frames.push(file.subarray(at + 12, at + 12 + size));
    at += 12 + size;
  }
  return frames;
}

/** The packets of an Ogg stream (pages' lacing values joined), without the Opus head and tags. */
function oggPackets(file: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  let partial: Buffer[] = [];
  for (let at = 0; at + 27 <= file.length; ) {
    if (file.toString('latin1', at, at + 4) !== 'OggS') throw new Error(`not an Ogg page at byte ${at}`);
    const segments = file[at + 26]!;
    const table = file.subarray(at + 27, at + 27 + segments);
    let body = at + 27 + segments;
    for (const lacing of table) {
      partial.push(file.subarray(body, body + lacing));
      body += lacing;
      if (lacing < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    at = body;
  }
  return packets.filter((p) => !p.subarray(0, 8).equals(Buffer.from('OpusHead')) && !p.subarray(0, 8).equals(Buffer.from('OpusTags')));
}

export function loadClips(dir: string): { video: Clip; audio: Clip } {
  const frames = ivfFrames(readFileSync(path.join(dir, 'video.ivf')));
  const video: ClipPacket[] = [];
  frames.forEach((frame, i) => {
    const parts = Math.ceil(frame.length / maxVideoPayload);
    const size = Math.ceil(frame.length / parts);
    for (let p = 0; p < parts; p++) {
      // Payload descriptor: S (start of a partition) on the frame's first packet, partition 0.
      const descriptor = Buffer.from([p === 0 ? 0x10 : 0x00]);
      video.push({ atMs: (i * 1000) / videoFps, timestamp: (i * 90000) / videoFps, marker: p === parts - 1, payload: Buffer.concat([descriptor, frame.subarray(p * size, (p + 1) * size)]) });
    }
  });
  const audio = oggPackets(readFileSync(path.join(dir, 'audio.ogg'))).map((payload, i) => ({ atMs: i * 20, timestamp: i * 960, marker: false, payload }));
  const bits = (packets: ClipPacket[]) => (packets.reduce((n, p) => n + p.payload.length, 0) * 8) / clipSeconds;
  if (frames.length < clipSeconds * videoFps * 0.9 || audio.length < clipSeconds * 50 * 0.9) throw new Error(`the clip is short: ${frames.length} video frames, ${audio.length} Opus frames`);
  return {
    video: { kind: 'video', payloadType: 96, clockRate: 90000, durationMs: (frames.length * 1000) / videoFps, packets: video, bitsPerSecond: bits(video) },
    audio: { kind: 'audio', payloadType: 111, clockRate: 48000, durationMs: audio.length * 20, packets: audio, bitsPerSecond: bits(audio) },
  };
}

/**
 * Replays a clip in a loop with its own sequence numbers and timestamps: `due(nowMs)` gives the packets
 * due since the last call (each with its seq and RTP timestamp). Starts at `offsetMs` into the clip so
 * that many streams' keyframes are not all at once.
 */
export class ClipPlayer {
  private index = 0;
  private loops = 0;
  seq: number;
  private readonly timestampBase: number;
  private startedAt = 0;
  private readonly offsetMs: number;
  readonly clip: Clip;

  constructor(clip: Clip, offsetMs: number) {
    this.clip = clip;
    this.offsetMs = offsetMs % clip.durationMs;
    this.seq = Math.floor(Math.random() * 0x10000);
    this.timestampBase = Math.floor(Math.random() * 0x7fffffff);
    while (this.index < clip.packets.length && clip.packets[this.index]!.atMs < this.offsetMs) this.index++;
  }

  /** (Re)starts the clock: packets are due from now on (a pause sends nothing it missed). */
  start(nowMs: number): void {
    const at = this.loops * this.clip.durationMs + (this.clip.packets[this.index]?.atMs ?? this.clip.durationMs);
    this.startedAt = nowMs - (at - this.offsetMs);
  }

  due(nowMs: number, send: (p: ClipPacket, seq: number, timestamp: number) => void): void {
    const clipTime = nowMs - this.startedAt + this.offsetMs;
    for (;;) {
      if (this.index >= this.clip.packets.length) {
        this.index = 0;
        this.loops++;
      }
      const p = this.clip.packets[this.index]!;
      if (this.loops * this.clip.durationMs + p.atMs > clipTime) return;
      const timestamp = (this.timestampBase + Math.round((this.loops * this.clip.durationMs * this.clip.clockRate) / 1000) + p.timestamp) >>> 0;
      send(p, this.seq, timestamp);
      this.seq = (this.seq + 1) & 0xffff;
      this.index++;
    }
  }
}

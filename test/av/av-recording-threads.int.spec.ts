// AV recordings built on a worker thread (src/adapters/webrtc/av-recording-threads.ts): the main thread hands
// over copies of each packet in batches; the worker's WebM must hold both tracks with the duration of the
// RTP timestamps fed, every cluster sized (no "Unknown-sized element" from ffprobe), nothing written after
// stop, and two recordings on one worker must not mix. Real VP8 and Opus (the AV bench's clip, by ffmpeg).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RtpHeader, RtpPacket } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvRecordingThreads } from '../../src/adapters/webrtc/av-recording-threads.ts';
import { loadClips, makeMediaFiles, type Clip } from '../../bench/av/media.ts';
import { requireFfmpeg } from '../support/av.ts';

let dir: string;
let clips: { video: Clip; audio: Clip };

beforeAll(() => {
  requireFfmpeg();
  dir = mkdtempSync(path.join(tmpdir(), 'kefu-av-rec-'));
  clips = loadClips(makeMediaFiles());
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The clip's packets of the first `ms`, as RTP with their own SSRC. */
function rtp(clip: Clip, ms: number, ssrc: number): RtpPacket[] {
  return clip.packets
    .filter((p) => p.atMs < ms)
    .map((p, seq) => new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: 1000 + p.timestamp, marker: p.marker, payloadType: clip.payloadType, ssrc }), p.payload));
}

function probe(file: string): { streams: string[]; duration: number; warnings: string } {
  const run = spawnSync('ffprobe', ['-v', 'warning', '-show_streams', '-show_format', '-of', 'json', file], { encoding: 'utf8' });
  const out = JSON.parse(run.stdout) as { streams: { codec_type: string; codec_name: string }[]; format: { duration?: string } };
  return { streams: out.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), duration: Number(out.format.duration), warnings: run.stderr };
}

describe('AV recordings on a worker thread', () => {
  it('two interleaved recordings on one worker: valid WebMs with their own durations and sized clusters', async () => {
    const threads = new AvRecordingThreads(1);
    try {
      const errors: unknown[] = [];
      const tracks = [
        { kind: 'audio' as const, codec: 'opus', payloadType: clips.audio.payloadType },
        { kind: 'video' as const, codec: 'VP8', payloadType: clips.video.payloadType },
      ];
      const long = path.join(dir, 'long.webm');
      const short = path.join(dir, 'short.webm');
      const a = threads.start(long, tracks, { width: 640, height: 480 }, (err) => errors.push(err));
      const b = threads.start(short, [tracks[0]!], { width: 640, height: 480 }, (err) => errors.push(err));
      // 6 s of audio and video (a keyframe every 2 s: clusters); 2 s of audio on the other. werift's lip sync
      // holds the last half second or so at stop: the durations are that much short.
      const aAudio = rtp(clips.audio, 6000, 1);
      const aVideo = rtp(clips.video, 6000, 2);
      const bAudio = rtp(clips.audio, 2000, 3);
      // In real time, as a call's packets come (werift's lip sync holds frames by the clock between packets).
      const all = [...aAudio.map((p) => ({ p, r: a, t: 0, at: (p.header.timestamp - 1000) / 48 })), ...aVideo.map((p) => ({ p, r: a, t: 1, at: (p.header.timestamp - 1000) / 90 })), ...bAudio.map((p) => ({ p, r: b, t: 0, at: (p.header.timestamp - 1000) / 48 }))].sort((x, y) => x.at - y.at);
      const started = Date.now();
      for (const { p, r, t, at } of all) {
        while (Date.now() - started < at) await new Promise((resolve) => setTimeout(resolve, 10));
        r.feed(t, p);
      }
      const [ra, rb] = await Promise.all([a.stop(15_000), b.stop(15_000)]);
      expect(errors).toEqual([]);
      expect(ra.complete).toBe(true);
      expect(rb.complete).toBe(true);
      expect(ra.bytes).toBe(statSync(long).size);
      expect(rb.bytes).toBe(statSync(short).size);

      const pa = probe(long);
      expect(pa.streams).toEqual(['audio:opus', 'video:vp8']);
      expect(pa.duration).toBeGreaterThan(5);
      expect(pa.duration).toBeLessThan(6.5);
      expect(pa.warnings).not.toMatch(/unknown-sized/i);
      const pb = probe(short);
      expect(pb.streams).toEqual(['audio:opus']);
      expect(pb.duration).toBeGreaterThan(1);
      expect(pb.duration).toBeLessThan(2.5);
      expect(pb.warnings).not.toMatch(/unknown-sized/i);
      // Every frame is read to the end (the clusters' and the segment's sizes are right: a wrong one cuts or
      // garbles what follows, or runs past the end of the file).
      const read = spawnSync('ffprobe', ['-v', 'warning', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', long], { encoding: 'utf8' });
      expect(read.stderr).not.toMatch(/ended prematurely|unknown-sized|invalid/i);
      expect(Number(read.stdout.trim())).toBeGreaterThan(150);
      // Nothing after stop: packets fed now are dropped and the file stays as reported.
      a.feed(0, aAudio[0]!);
      await new Promise((r) => setTimeout(r, 200));
      expect(statSync(long).size).toBe(ra.bytes);
    } finally {
      await threads.close();
    }
  }, 120_000);
});

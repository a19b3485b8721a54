// AV calls' media on worker threads (src/adapters/webrtc/av-media-threads.ts, KEFU_AV_MEDIA_THREADS): two werift
// stand-in browsers (real DTLS-SRTP, VP8 and Opus from ffmpeg) call through a worker: the main thread answers
// both offers, joins the call and records the customer, and the media goes both ways on the worker (with a
// keyframe request passed through, the last RTP time and the tracks told to the main thread); the WebM is valid.
// A worker that stops ends its calls' peers as gone because of Kefu, and the next call gets a new worker; AvCalls
// ends such a call as a system error (not as the customer's disconnection).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import { ThreadedAvMedia } from '../../src/adapters/webrtc/av-media-threads.ts';
import type { AvGoneCause } from '../../src/adapters/webrtc/av-media.ts';
import { AvCalls } from '../../src/processes/av-calls/av-calls.ts';
import type { ContactWatch } from '../../src/processes/calls/contact-watch.ts';
import { requireFfmpeg } from '../support/av.ts';
import { until } from '../support/until.ts';
import { WeriftAvBrowser } from './werift-av-browser.ts';

const options = { publicAddress: '127.0.0.1', bindAddress: '127.0.0.1' };
let dir: string;
const browsers: WeriftAvBrowser[] = [];
const browser = () => {
  const b = new WeriftAvBrowser(true);
  browsers.push(b);
  return b;
};

beforeAll(() => {
  requireFfmpeg();
  dir = mkdtempSync(path.join(tmpdir(), 'kefu-av-media-'));
});
afterAll(async () => {
  await Promise.all(browsers.map((b) => b.close().catch(() => undefined)));
  rmSync(dir, { recursive: true, force: true });
});

/** The workers of a ThreadedAvMedia (to stop one as a crash would). */
const workersOf = (media: ThreadedAvMedia) => (media as unknown as { threads: ({ worker: Worker } | null)[] }).threads.flatMap((t) => (t ? [t.worker] : []));

describe('AV media on worker threads', () => {
  it('relays a call both ways on a worker, passes keyframe requests, tells the main thread its media and records it', async () => {
    const media = new ThreadedAvMedia(options, 2, 1);
    try {
      const customer = browser();
      const agent = browser();
      const c = await media.answer(await customer.offer());
      expect(c.videoCodec).toBe('VP8');
      expect(c.answerSdp).toMatch(/a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/);
      await customer.answer(c.answerSdp);
      const a = await media.answer(await agent.offer(), c.videoCodec, true, c);
      await agent.answer(a.answerSdp);
      await c.whenConnected();
      await a.whenConnected();
      expect(c.connected && a.connected).toBe(true);
      const call = media.call(c);
      call.attachAgent('agent-1', a);
      expect(call.agentPeer).toBe(a);
      await Promise.all([customer.startMedia(), agent.startMedia()]);
      await until(async () => ({ customer: { ...customer.received }, agent: { ...agent.received } }), (r) => r.customer.audio > 50 && r.customer.video > 30 && r.agent.audio > 50 && r.agent.video > 30, 60_000);
      // The worker tells what each peer has received, and when.
      await until(async () => [c.hasTrack('audio'), c.hasTrack('video'), a.hasTrack('video')], (v) => v.every(Boolean), 10_000);
      expect(Date.now() - c.lastRtpAt).toBeLessThan(5_000);
      // The agent's browser asks for a keyframe: the customer's browser is asked.
      const before = customer.pliReceived;
      await until(() => agent.sendPli().then(() => customer.pliReceived), (n) => n > before, 10_000);

      const file = path.join(dir, 'customer.webm');
      const errors: unknown[] = [];
      const recording = await media.record(c, { recordingId: 'r1', path: file }, (err) => errors.push(err));
      expect(recording).not.toBeNull();
      await new Promise((r) => setTimeout(r, 3000));
      const { bytes, durationMs } = await recording!.stop();
      expect(errors).toEqual([]);
      expect(bytes).toBe(statSync(file).size);
      expect(durationMs).toBeGreaterThan(2500);
      const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name', '-of', 'csv=p=0', file], { encoding: 'utf8' });
      expect(probe.stdout.trim().split('\n').sort()).toEqual(['opus,audio', 'vp8,video']);

      // Hold: nothing relayed; resumed: relayed again.
      call.setHeld(true);
      await new Promise((r) => setTimeout(r, 500));
      const held = agent.received.audio;
      await new Promise((r) => setTimeout(r, 1000));
      expect(agent.received.audio - held).toBeLessThan(5);
      call.setHeld(false);
      await until(async () => agent.received.audio, (n) => n > held + 20, 10_000);

      // The agent leaves (a transfer): the customer's peer stays, the agent's is closed.
      expect(call.detachAgent()).toBe(a);
      expect(call.agentPeer).toBeNull();
      await until(async () => agent.pc.connectionState, (s) => s === 'closed' || s === 'failed', 60_000);
      expect(c.connected).toBe(true);
      await call.close();
    } finally {
      await media.close();
    }
  }, 180_000);

  it('a worker that stops ends its peers as gone because of Kefu; the next call gets a new worker', async () => {
    const media = new ThreadedAvMedia(options, 1, 1);
    try {
      const customer = browser();
      const c = await media.answer(await customer.offer());
      await customer.answer(c.answerSdp);
      await c.whenConnected();
      media.call(c);
      const gone: [string, AvGoneCause][] = [];
      c.onGone((why, cause) => gone.push([why, cause]));
      const [worker] = workersOf(media);
      await worker!.terminate();
      await until(async () => gone.length, (n) => n > 0, 10_000);
      expect(gone).toEqual([[expect.stringMatching(/AV media thread stopped/), 'kefu']]);
      // Nothing hangs: a renegotiation on the lost peer fails at once; a new offer is answered on a new worker.
      await expect(c.renegotiate(await customer.offer())).rejects.toThrow(/ended|stopped/);
      const next = browser();
      const n = await media.answer(await next.offer());
      await next.answer(n.answerSdp);
      await n.whenConnected();
      expect(workersOf(media)[0]).not.toBe(worker);
    } finally {
      await media.close();
    }
  }, 120_000);

  /** AvCalls on `mediaThreads` threads with stand-ins for everything but the media (no recording, no limits). */
  function avCalls(mediaThreads: number, handle: (...args: never[]) => Promise<unknown>): AvCalls {
    return new AvCalls({
      ...options,
      mediaThreads,
      commands: { handle } as unknown as CommandHandler,
      watch: { start: () => Promise.resolve(), watch: () => () => undefined, stop: () => Promise.resolve() } as unknown as ContactWatch,
      graceMs: 60_000,
      maxPerVisitor: 0,
      maxPerAddress: 0,
      record: false,
      recordingPath: (_instanceId, recordingId) => Promise.resolve(path.join(dir, `${recordingId}.webm`)),
      onAgentDeviceLost: () => Promise.resolve('END'),
      logger: pino({ level: 'silent' }),
      clock: () => new Date(),
    });
  }

  it('AvCalls.start starts every media thread and waits until each takes calls; the first call uses them', async () => {
    const calls = avCalls(2, () => Promise.resolve({ events: [] }));
    try {
      const media = (calls as unknown as { media: ThreadedAvMedia }).media;
      expect(workersOf(media)).toHaveLength(0);
      await calls.start();
      const threads = (media as unknown as { threads: { ready: Promise<void>; alive: boolean; worker: Worker }[] }).threads;
      expect(workersOf(media)).toHaveLength(2);
      // Both loaded already: their ready promises have resolved by the next turn of the event loop.
      const ready = threads.map(() => false);
      threads.forEach((t, i) => void t.ready.then(() => (ready[i] = true)));
      await new Promise((r) => setImmediate(r));
      expect(ready).toEqual([true, true]);
      expect(threads.every((t) => t.alive)).toBe(true);
      const started = workersOf(media);
      const customer = browser();
      const peer = await calls.startCustomer({ instanceId: 'i1', contactId: 'c1', visitorKey: 'v1', addressKey: null, offerSdp: await customer.offer(), skillGroupId: 'g1' }, () => Promise.resolve(true));
      await customer.answer(peer.answerSdp);
      await peer.whenConnected();
      expect(workersOf(media)).toEqual(started);
    } finally {
      await calls.stop();
    }
  }, 60_000);

  it("AvCalls ends a call whose media thread stopped as a system error", async () => {
    const commands: { type: string; data: Record<string, unknown> }[] = [];
    const calls = avCalls(1, (_stream: string, _decider: unknown, command: { type: string; data: Record<string, unknown> }) => (commands.push(command), Promise.resolve({ events: [] })));
    try {
      const customer = browser();
      const peer = await calls.startCustomer({ instanceId: 'i1', contactId: 'c1', visitorKey: 'v1', addressKey: null, offerSdp: await customer.offer(), skillGroupId: 'g1' }, () => Promise.resolve(true));
      await customer.answer(peer.answerSdp);
      await peer.whenConnected();
      expect(calls.activeCalls).toBe(1);
      const [worker] = workersOf((calls as unknown as { media: ThreadedAvMedia }).media);
      await worker!.terminate();
      await until(async () => calls.activeCalls, (n) => n === 0, 10_000);
      expect(commands.map((c) => [c.type, c.data.reason])).toEqual([['EndContact', 'systemError']]);
    } finally {
      await calls.stop();
    }
  }, 60_000);
});


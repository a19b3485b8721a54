// A piped leg (the media side of a WebRTC softphone: no socket, RTP in by deliver(), out by a callback)
// bridged and recorded with a UDP leg, as a softphone call is.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MonitoredMediaEngine } from '../../src/adapters/media/media-port.ts';
import { decodeG711, encodeG711 } from '../../src/adapters/media/g711.ts';
import { parseRtpPacket, serializeRtpPacket, type RtpPacket } from '../../src/adapters/media/rtp-packet.ts';
import { engines, syncStats, type EngineFactory } from './engines.ts';
import { analyseWav } from '../calls/wav-analysis.ts';
import { powerAt, RtpPeer, tone, until } from './rtp-peer.ts';

// Ports 30200-30219 belong to this file (test files run in parallel).
let engine: MonitoredMediaEngine;
let makeEngine: EngineFactory;
let customer: RtpPeer;
let dir: string;

beforeEach(async () => {
  engine = makeEngine({ portMin: 30200, portMax: 30219 });
  customer = await RtpPeer.open();
  dir = await mkdtemp(join(tmpdir(), 'kefu-piped-'));
});

afterEach(async () => {
  await engine.close();
  await customer.close();
  await rm(dir, { recursive: true, force: true });
});

describe.each(engines)('piped leg (%s)', (_name, make) => {
  beforeAll(() => {
    makeEngine = make;
  });

  it('bridges to a UDP leg both ways, transcoding PCMA to PCMU, and is recorded', async () => {
    const piped: RtpPacket[] = [];
    const { leg: agent, deliver } = await engine.openPipedLeg('softphone', (packet) => {
      const p = parseRtpPacket(Buffer.from(packet));
      if (p) piped.push({ ...p, payload: Uint8Array.from(p.payload) });
    }, { group: 'call' });
    const caller = await engine.openLeg('customer', { group: 'call' });
    caller.setRemote(customer.endpoint, 'PCMA', 8, 101);
    agent.setRemote({ address: 'webrtc', port: 0 }, 'PCMU', 0, null);
    const file = join(dir, 'call.wav');
    const bridge = engine.bridge(caller, agent, { recordTo: file });

    // The softphone speaks 1000 Hz (PCMU, as Chromium would send it), the customer 440 Hz (PCMA).
    const fromBrowser = encodeG711('PCMU', tone(1000, 1.5));
    const browser = (async () => {
      const started = performance.now();
      for (let frame = 0; frame * 160 < fromBrowser.length; frame++) {
        const wait = started + frame * 20 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const packet = serializeRtpPacket({ marker: frame === 0, payloadType: 0, sequenceNumber: frame, timestamp: frame * 160, ssrc: 42, payload: fromBrowser.subarray(frame * 160, frame * 160 + 160) });
        deliver(Buffer.from(packet));
      }
    })();
    await Promise.all([customer.stream(caller.local, 'PCMA', tone(440, 1.5)), browser]);
    await until(() => customer.received.length >= 75 && piped.length >= 75, 2000, 'both sides to hear each other');
    const result = await bridge.stop();

    // The softphone's pipe got the customer's audio as PCMU with payload type 0.
    expect(piped.every((p) => p.payloadType === 0)).toBe(true);
    const heardBySoftphone = decodeG711('PCMU', Buffer.concat(piped.map((p) => p.payload)));
    expect(powerAt(heardBySoftphone, 440)).toBeGreaterThan(100 * powerAt(heardBySoftphone, 1000));
    // The customer got the softphone's audio as PCMA.
    const fromSoftphone = customer.received.filter((p) => p.payloadType === 8);
    const heardByCustomer = decodeG711('PCMA', Buffer.concat(fromSoftphone.map((p) => p.payload)));
    expect(powerAt(heardByCustomer, 1000)).toBeGreaterThan(100 * powerAt(heardByCustomer, 440));
    await syncStats(engine);
    expect(agent.stats()).toMatchObject({ packetsIn: 75, packetsOut: piped.length });

    expect(result!.durationMs).toBeGreaterThan(1000);
    const wav = analyseWav(file);
    expect(wav.channels).toBe(2);
    expect(wav.activeShare[0]).toBeGreaterThan(0.5);
    expect(wav.activeShare[1]).toBeGreaterThan(0.5);
  });

  it('sends nothing before setRemote, drops malformed packets, and frees itself on close', async () => {
    const sent: Uint8Array[] = [];
    const { leg, deliver } = await engine.openPipedLeg('softphone', (p) => sent.push(p));
    leg.play(tone(440, 0.2));
    await new Promise((r) => setTimeout(r, 100));
    expect(sent).toHaveLength(0);
    leg.setRemote({ address: 'webrtc', port: 0 }, 'PCMA', 8, null);
    const playback = leg.play(tone(440, 0.2));
    expect(await playback.done).toBe('finished');
    expect(sent.length).toBeGreaterThanOrEqual(9);
    deliver(Buffer.from([1, 2, 3]));
    await syncStats(engine);
    expect(leg.stats().packetsMalformed).toBe(1);
    expect(engine.openLegs).toBe(1);
    await leg.close();
    expect(engine.openLegs).toBe(0);
  });
});

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wavefile from 'wavefile';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeG711 } from '../../src/adapters/media/g711.ts';
import type { MonitoredMediaEngine, RtpLeg } from '../../src/adapters/media/media-port.ts';
import { serializeRtpPacket } from '../../src/adapters/media/rtp-packet.ts';
import { buildTelephoneEvent } from '../../src/adapters/media/telephone-event.ts';
import { engines, syncStats, type EngineFactory } from './engines.ts';
import { powerAt, rms, RtpPeer, tone, until } from './rtp-peer.ts';

// Ports 30100-30199 belong to this file (test files run in parallel).
let engine: MonitoredMediaEngine;
let makeEngine: EngineFactory;
let customer: RtpPeer;
let agent: RtpPeer;
let a: RtpLeg;
let b: RtpLeg;
let dir: string;
/** What the engine warned about (both engines: a worker's warnings reach the main thread). */
let warnings: { context: unknown; message: string | undefined }[];

beforeEach(async () => {
  warnings = [];
  const logger = { warn: (context: unknown, message?: string) => warnings.push({ context, message }), error: (context: unknown, message?: string) => warnings.push({ context, message }) };
  engine = makeEngine({ portMin: 30100, portMax: 30179, logger });
  customer = await RtpPeer.open();
  agent = await RtpPeer.open();
  // One call: its legs share a group (one media thread when the engine has several).
  a = await engine.openLeg('customer', { group: 'call' });
  b = await engine.openLeg('agent', { group: 'call' });
  dir = await mkdtemp(join(tmpdir(), 'kefu-bridge-'));
});

afterEach(async () => {
  await engine.close();
  await customer.close();
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

function decodedAudio(peer: RtpPeer, payloadType: number, codec: 'PCMU' | 'PCMA'): Int16Array {
  const packets = peer.received.filter((p) => p.payloadType === payloadType);
  const bytes = new Uint8Array(packets.reduce((n, p) => n + p.payload.length, 0));
  let offset = 0;
  for (const p of packets) {
    bytes.set(p.payload, offset);
    offset += p.payload.length;
  }
  return decodeG711(codec, bytes);
}

async function readWav(path: string) {
  const wav = new wavefile.WaveFile(await readFile(path));
  const fmt = wav.fmt as { numChannels: number; sampleRate: number; bitsPerSample: number };
  const [left, right] = wav.getSamples(false, Float64Array) as unknown as [Float64Array, Float64Array];
  return { fmt, left, right };
}

describe.each(engines)('bridge (%s)', (_name, make) => {
  beforeAll(() => {
    makeEngine = make;
  });

  it('relays both ways and records customer left, agent right, as long as the talk time', async () => {
    a.setRemote(customer.endpoint, 'PCMU', 0, 101);
    b.setRemote(agent.endpoint, 'PCMU', 0, 101);
    const path = join(dir, 'calls', 'call-1.wav');
    const bridge = engine.bridge(a, b, { recordTo: path });
    expect(bridge.recording?.path).toBe(path);

    await Promise.all([customer.stream(a.local, 'PCMU', tone(440, 2)), agent.stream(b.local, 'PCMU', tone(1000, 2))]);
    await new Promise((r) => setTimeout(r, 100));
    const result = await bridge.stop();

    // Each side heard the other one: 100 packets, passed through with the leg's own numbering.
    expect(agent.received.length).toBe(100);
    expect(customer.received.length).toBe(100);
    const heardByAgent = decodedAudio(agent, 0, 'PCMU');
    const heardByCustomer = decodedAudio(customer, 0, 'PCMU');
    expect(powerAt(heardByAgent, 440)).toBeGreaterThan(100 * powerAt(heardByAgent, 1000));
    expect(powerAt(heardByCustomer, 1000)).toBeGreaterThan(100 * powerAt(heardByCustomer, 440));
    for (let i = 1; i < agent.received.length; i++) {
      expect(agent.received[i]!.sequenceNumber).toBe((agent.received[i - 1]!.sequenceNumber + 1) & 0xffff);
    }
    expect(agent.received[0]!.ssrc).not.toBe(0x1234abcd); // the leg's SSRC, not the customer's

    const { fmt, left, right } = await readWav(path);
    expect(fmt).toMatchObject({ numChannels: 2, sampleRate: 8000, bitsPerSample: 16 });
    expect(left.length / 8000).toBeGreaterThan(1.8);
    expect(left.length / 8000).toBeLessThan(2.4);
    expect(result?.durationMs).toBeCloseTo((left.length / 8000) * 1000, -1);
    expect(result?.bytes).toBe(44 + left.length * 4);
    expect(powerAt(left, 440)).toBeGreaterThan(100 * powerAt(left, 1000));
    expect(powerAt(right, 1000)).toBeGreaterThan(100 * powerAt(right, 440));
  });

  it('transcodes mu-law to A-law, and records silence on the side nobody speaks', async () => {
    a.setRemote(customer.endpoint, 'PCMU', 0, null);
    b.setRemote(agent.endpoint, 'PCMA', 8, null);
    const path = join(dir, 'call-2.wav');
    const bridge = engine.bridge(a, b, { recordTo: path });
    await customer.stream(a.local, 'PCMU', tone(440, 1));
    await new Promise((r) => setTimeout(r, 100));
    await bridge.stop();

    expect(agent.received.length).toBe(50);
    expect(agent.received.every((p) => p.payloadType === 8)).toBe(true);
    const heard = decodedAudio(agent, 8, 'PCMA');
    expect(rms(heard)).toBeGreaterThan(4000);
    expect(powerAt(heard, 440)).toBeGreaterThan(100 * powerAt(heard, 1000));

    const { left, right } = await readWav(path);
    expect(rms(left)).toBeGreaterThan(4000);
    expect(rms(right)).toBe(0);
  });

  it('accepts the other G.711 law the customer listed, converting it for the agent and the recording', async () => {
    // The carrier offered "PCMA PCMU": Kefu sends PCMA and takes either; the agent's phone speaks PCMU.
    a.setRemote(customer.endpoint, 'PCMA', 8, 101, [{ codec: 'PCMU', payloadType: 0 }]);
    b.setRemote(agent.endpoint, 'PCMU', 0, null);
    const path = join(dir, 'call-laws.wav');
    const bridge = engine.bridge(a, b, { recordTo: path });
    await customer.stream(a.local, 'PCMA', tone(440, 1));
    await customer.stream(a.local, 'PCMU', tone(440, 1));
    await agent.waitFor(100, 5000);
    await bridge.stop();

    expect(agent.received.every((p) => p.payloadType === 0)).toBe(true);
    const heard = decodedAudio(agent, 0, 'PCMU');
    expect(rms(heard.subarray(0, 8000))).toBeGreaterThan(4000); // the A-law second, converted
    expect(rms(heard.subarray(8000))).toBeGreaterThan(4000); // the mu-law second, passed through
    expect(powerAt(heard, 440)).toBeGreaterThan(100 * powerAt(heard, 1000));
    const { left } = await readWav(path);
    expect(rms(left)).toBeGreaterThan(4000);
    await syncStats(engine);
    expect(a.stats()).toMatchObject({ packetsIn: 100, packetsUnknownPayloadType: 0 });
  });

  it('drops, counts and logs once a law the customer did not list, so a silent call is explained', async () => {
    // An answer of PCMU only, and a carrier that sends A-law anyway: nothing reaches the agent or the file.
    a.setRemote(customer.endpoint, 'PCMU', 0, null);
    b.setRemote(agent.endpoint, 'PCMU', 0, null);
    const path = join(dir, 'call-dropped.wav');
    const bridge = engine.bridge(a, b, { recordTo: path });
    await customer.stream(a.local, 'PCMA', tone(440, 0.5));
    await until(() => {
      void syncStats(engine);
      return a.stats().packetsUnknownPayloadType === 25;
    }, 5000, '25 packets dropped');
    await bridge.stop();
    expect(agent.received.length).toBe(0);
    expect(a.stats().packetsIn).toBe(0);
    const { left } = await readWav(path);
    expect(rms(left)).toBe(0);
    await a.close();
    const aboutA = () => warnings.filter((w) => JSON.stringify(w).includes(a.id.split('@')[0]!));
    // One warning at the first drop (naming payload type 8), one summary when the leg closes.
    await until(() => aboutA().length >= 2, 3000, 'warnings about the leg');
    expect(aboutA().filter((w) => /did not list/.test(String(w.message))).length).toBe(1);
    expect(JSON.stringify(aboutA()).replaceAll('\\"', '"')).toContain('"payloadType":8');
    expect(warnings.some((w) => /closed having dropped 25 packets/.test(String(w.message)))).toBe(true);
  });

  it('measures what each leg received: packets, losses, jitter and the silence while bridged', async () => {
    a.setRemote(customer.endpoint, 'PCMU', 0, null);
    b.setRemote(agent.endpoint, 'PCMU', 0, null);
    const bridge = engine.bridge(a, b);
    // The customer sends 1 s with every fifth packet missing; the agent says nothing for 1.5 s.
    const started = performance.now();
    for (let i = 0; i < 50; i++) {
      const wait = started + i * 20 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (i % 5 === 4) continue;
      await customer.send(a.local, serializeRtpPacket({ marker: i === 0, payloadType: 0, sequenceNumber: 100 + i, timestamp: i * 160, ssrc: 42, payload: new Uint8Array(160).fill(0x55) }));
    }
    await until(() => performance.now() - started > 1600, 5000, '1.6 s');
    await syncStats(engine);
    const customerLeg = a.stats();
    const agentLeg = b.stats();
    await bridge.stop();
    expect(customerLeg.packetsIn).toBe(40);
    expect(customerLeg.packetsLost).toBe(9); // 104, 109, ... 144 (149 was never followed by a later one)
    expect(customerLeg.jitterMs).toBeGreaterThan(0);
    expect(customerLeg.jitterMs).toBeLessThan(200);
    expect(customerLeg.lastAudioAt).not.toBeNull();
    expect(agentLeg.packetsIn).toBe(0);
    expect(agentLeg.silentMs).toBeGreaterThanOrEqual(1500);
    expect(agent.received.length).toBe(40);
  });

  it('stops playbacks on both legs, relays DTMF with the other leg\'s payload type, and stops relaying on stop()', async () => {
    a.setRemote(customer.endpoint, 'PCMU', 0, 101);
    b.setRemote(agent.endpoint, 'PCMU', 0, 96);
    const music = a.play(tone(300, 10), { loop: true });
    const digits: string[] = [];
    a.onDtmf((d) => digits.push(d));
    const bridge = engine.bridge(a, b);
    expect(await music.done).toBe('stopped');
    expect(bridge.recording).toBeNull();

    const press = (end: boolean, sequenceNumber: number) =>
      serializeRtpPacket({ marker: !end, payloadType: 101, sequenceNumber, timestamp: 4000, ssrc: 9, payload: buildTelephoneEvent({ event: 3, end, volume: 10, duration: 800 }) });
    await customer.send(a.local, press(false, 1));
    await customer.send(a.local, press(true, 2));
    await agent.waitFor(2);
    expect(agent.received.map((p) => p.payloadType)).toEqual([96, 96]);
    expect(digits).toEqual(['3']);

    expect(await bridge.stop()).toBeNull();
    await customer.stream(a.local, 'PCMU', tone(440, 0.1));
    await until(() => a.stats().packetsIn === 7, 2000, 'packets on a');
    await new Promise((r) => setTimeout(r, 50));
    expect(agent.received.length).toBe(2);
  });

  it('refuses to bridge a leg twice or a leg of another engine', async () => {
    const other = make({ portMin: 30180, portMax: 30199 });
    try {
      const foreign = await other.openLeg();
      expect(() => engine.bridge(a, foreign)).toThrowError(/legs of this media engine/);
      engine.bridge(a, b);
      const c = await engine.openLeg('third', { group: 'call' });
      expect(() => engine.bridge(a, c)).toThrowError(/already bridged/);
    } finally {
      await other.close();
    }
  });
});

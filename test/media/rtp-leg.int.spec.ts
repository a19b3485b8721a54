import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MonitoredMediaEngine, RtpLeg } from '../../src/adapters/media/media-port.ts';
import { serializeRtpPacket } from '../../src/adapters/media/rtp-packet.ts';
import { buildTelephoneEvent, eventForDigit } from '../../src/adapters/media/telephone-event.ts';
import { engines, syncStats, type EngineFactory } from './engines.ts';
import { RtpPeer, tone, until } from './rtp-peer.ts';

// Ports 30000-30099 belong to this file (test files run in parallel).
let engine: MonitoredMediaEngine;
let makeEngine: EngineFactory;
let peer: RtpPeer;
let leg: RtpLeg;

beforeEach(async () => {
  engine = makeEngine({ portMin: 30000, portMax: 30099 });
  peer = await RtpPeer.open();
  leg = await engine.openLeg('customer');
});

afterEach(async () => {
  await engine.close();
  await peer.close();
});

/** The packets of one RFC 4733 key press as a phone sends them: start, updates, three end packets. */
function keyPress(digit: string, timestamp: number, firstSequence: number): Uint8Array[] {
  const event = eventForDigit(digit);
  const durations = [160, 320, 480, 640, 640, 640];
  return durations.map((duration, i) =>
    serializeRtpPacket({
      marker: i === 0,
      payloadType: 101,
      sequenceNumber: firstSequence + i,
      timestamp,
      ssrc: 77,
      payload: buildTelephoneEvent({ event, end: i >= 3, volume: 10, duration }),
    }),
  );
}

describe.each(engines)('media engine legs (%s)', (_name, make) => {
  beforeAll(() => {
    makeEngine = make;
  });

  it('binds even ports from the range and advertises the public address', async () => {
    const other = await engine.openLeg();
    for (const l of [leg, other]) {
      expect(l.local.address).toBe('127.0.0.1');
      expect(l.local.port % 2).toBe(0);
      expect(l.local.port).toBeGreaterThanOrEqual(30000);
      expect(l.local.port).toBeLessThanOrEqual(30099);
    }
    expect(other.local.port).not.toBe(leg.local.port);
    expect(other.id).not.toBe(leg.id);
  });

  it('reports RFC 4733 digits once per key press: "1#" with redundant end packets gives exactly 1, #', async () => {
    leg.setRemote(peer.endpoint, 'PCMU', 0, 101);
    const digits: string[] = [];
    leg.onDtmf((d) => digits.push(d));
    for (const packet of [...keyPress('1', 8000, 10), ...keyPress('#', 16000, 16)]) await peer.send(leg.local, packet);
    await until(() => leg.stats().packetsIn === 12, 3000, '12 packets in');
    await new Promise((r) => setTimeout(r, 50));
    expect(digits).toEqual(['1', '#']);
  });

  it('merges SIP INFO digits into the same listeners, and unsubscribes', () => {
    const digits: string[] = [];
    const off = leg.onDtmf((d) => digits.push(d));
    leg.injectDtmf('5');
    off();
    leg.injectDtmf('6');
    expect(digits).toEqual(['5']);
    expect(() => leg.injectDtmf('x')).toThrowError(/not a DTMF digit/);
  });

  it('plays 1 s of audio as ~50 PCMU packets of 160 bytes with rising sequence/timestamp and a first marker', async () => {
    leg.setRemote(peer.endpoint, 'PCMU', 0, 101);
    const started = performance.now();
    const playback = leg.play(tone(440, 1));
    expect(await playback.done).toBe('finished');
    const elapsed = performance.now() - started;
    await new Promise((r) => setTimeout(r, 50));
    const packets = peer.received;
    expect(packets.length).toBe(50);
    expect(elapsed).toBeGreaterThan(900); // paced, not sent in one burst
    expect(packets.every((p) => p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    expect(packets[0]!.marker).toBe(true);
    expect(packets.slice(1).some((p) => p.marker)).toBe(false);
    for (let i = 1; i < packets.length; i++) {
      expect(packets[i]!.sequenceNumber).toBe((packets[i - 1]!.sequenceNumber + 1) & 0xffff);
      expect(packets[i]!.timestamp).toBe((packets[i - 1]!.timestamp + 160) >>> 0);
      expect(packets[i]!.ssrc).toBe(packets[0]!.ssrc);
    }
    await syncStats(engine);
    expect(leg.stats().packetsOut).toBe(50);
  });

  it('stops a playback when a new one starts, and loops until stopped', async () => {
    leg.setRemote(peer.endpoint, 'PCMA', 8, null);
    const first = leg.play(tone(440, 5));
    const second = leg.play(tone(440, 0.1), { loop: true });
    expect(await first.done).toBe('stopped');
    await peer.waitFor(15); // 0.1 s is 5 frames: 15 packets means it looped
    leg.stopPlayback();
    expect(await second.done).toBe('stopped');
    const count = peer.received.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(peer.received.length).toBeLessThanOrEqual(count + 1);
    expect(peer.received.every((p) => p.payloadType === 8)).toBe(true);
  });

  it('latches to where packets come from (symmetric RTP) and ignores other sources afterwards', async () => {
    const wrong = await RtpPeer.open();
    const intruder = await RtpPeer.open();
    try {
      // The SDP said `wrong` (a NATed phone's private address); the phone really sends from `peer`.
      leg.setRemote(wrong.endpoint, 'PCMU', 0, null);
      const audio = serializeRtpPacket({ marker: true, payloadType: 0, sequenceNumber: 1, timestamp: 0, ssrc: 5, payload: new Uint8Array(160).fill(0xff) });
      await peer.send(leg.local, audio);
      await until(() => leg.stats().packetsIn === 1, 2000, 'first packet');
      await intruder.send(leg.local, audio);
      leg.play(tone(440, 0.2));
      await peer.waitFor(10);
      expect(wrong.received.length).toBe(0);
      expect(intruder.received.length).toBe(0);
      await syncStats(engine);
      expect(leg.stats()).toMatchObject({ packetsIn: 1, packetsIgnored: 1 });
    } finally {
      await wrong.close();
      await intruder.close();
    }
  });

  it('drops malformed datagrams without latching to them', async () => {
    leg.setRemote(peer.endpoint, 'PCMU', 0, null);
    const other = await RtpPeer.open();
    try {
      await other.send(leg.local, Uint8Array.of(1, 2, 3));
      await until(() => leg.stats().packetsMalformed === 1, 2000, 'malformed counted');
      leg.play(tone(440, 0.1));
      await peer.waitFor(5);
      expect(other.received.length).toBe(0);
      await syncStats(engine);
      expect(leg.stats().packetsIn).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('counts each dropped packet by reason: before the SDP, a payload type not listed, a wrong source', async () => {
    const audio = (payloadType: number, sequenceNumber: number) =>
      serializeRtpPacket({ marker: false, payloadType, sequenceNumber, timestamp: sequenceNumber * 160, ssrc: 5, payload: new Uint8Array(160).fill(0xff) });
    await peer.send(leg.local, audio(0, 1)); // before setRemote: the leg cannot know what it is
    await until(() => {
      void syncStats(engine);
      return leg.stats().packetsBeforeNegotiation === 1;
    }, 3000, 'a packet before negotiation');
    leg.setRemote(peer.endpoint, 'PCMU', 0, 101, [{ codec: 'PCMA', payloadType: 8 }]);
    for (const [i, payloadType] of [0, 8, 101, 9, 18, 9].entries()) await peer.send(leg.local, audio(payloadType, 2 + i));
    const other = await RtpPeer.open();
    try {
      await other.send(leg.local, audio(0, 50));
      await other.send(leg.local, Uint8Array.of(0x80));
      await until(() => {
        void syncStats(engine);
        const s = leg.stats();
        return s.packetsIn === 3 && s.packetsUnknownPayloadType === 3 && s.packetsIgnored === 2;
      }, 3000, 'every packet counted');
    } finally {
      await other.close();
    }
    // PCMU, the PCMA also listed, and telephone-event are taken; G.722 and G.729 (never listed) are not. The
    // leg latched to `peer` before the stranger's packets came, so both are from the wrong source (malformed
    // or not: a stranger's datagram is not looked at).
    expect(leg.stats()).toMatchObject({ packetsIn: 3, packetsBeforeNegotiation: 1, packetsUnknownPayloadType: 3, packetsIgnored: 2, packetsMalformed: 0 });
  });

  it('sends a DTMF key press as RFC 4733 packets ending with three end packets', async () => {
    leg.setRemote(peer.endpoint, 'PCMU', 0, 101);
    await leg.sendDtmf!('7', 100);
    await peer.waitFor(7);
    const events = peer.received.filter((p) => p.payloadType === 101);
    // 100 ms = 800 samples: updates at 160..640, then the end packet three times with duration 800.
    expect(events.map((p) => (p.payload[2]! << 8) | p.payload[3]!)).toEqual([160, 320, 480, 640, 800, 800, 800]);
    expect(new Set(events.map((p) => p.timestamp)).size).toBe(1);
    expect(events[0]!.marker).toBe(true);
    expect(events.every((p) => p.payload[0] === 7)).toBe(true);
    expect(events.filter((p) => (p.payload[1]! & 0x80) !== 0).length).toBe(3);
  });

  it('close is idempotent, stops playback and frees the port', async () => {
    leg.setRemote(peer.endpoint, 'PCMU', 0, null);
    const playback = leg.play(tone(440, 5));
    const port = leg.local.port;
    await Promise.all([leg.close(), leg.close()]);
    await leg.close();
    expect(await playback.done).toBe('stopped');
    expect(engine.openLegs).toBe(0);
    // The freed port can be bound again (the range has 50 ports; open them all).
    const legs = await Promise.all(Array.from({ length: 50 }, () => engine.openLeg()));
    expect(legs.map((l) => l.local.port)).toContain(port);
    await expect(engine.openLeg()).rejects.toThrowError(/no free RTP port/);
  });
});

/** Test peer: a plain UDP socket standing in for a phone, sending and collecting RTP. */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { encodeG711 } from '../../src/adapters/media/g711.ts';
import type { MediaEndpoint } from '../../src/adapters/media/media-port.ts';
import { parseRtpPacket, serializeRtpPacket } from '../../src/adapters/media/rtp-packet.ts';
import type { RtpPacket } from '../../src/adapters/media/rtp-packet.ts';
import type { Codec } from '../../src/adapters/media/sdp.ts';

export class RtpPeer {
  readonly received: RtpPacket[] = [];
  private readonly socket: Socket;
  readonly endpoint: MediaEndpoint;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.endpoint = { address: '127.0.0.1', port: socket.address().port };
    socket.on('message', (message) => {
      const packet = parseRtpPacket(message);
      if (packet) this.received.push({ ...packet, payload: Uint8Array.from(packet.payload) });
    });
  }

  static async open(): Promise<RtpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new RtpPeer(socket);
  }

  send(to: MediaEndpoint, bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, to.port, to.address, (error) => (error ? reject(error) : resolve())));
  }

  /** Sends `samples` as 20 ms packets in real time (paced by wall clock). */
  async stream(to: MediaEndpoint, codec: Codec, samples: Int16Array, payloadType = codec === 'PCMU' ? 0 : 8): Promise<void> {
    const encoded = encodeG711(codec, samples);
    const ssrc = 0x1234abcd;
    const started = performance.now();
    for (let frame = 0; frame * 160 < encoded.length; frame++) {
      const wait = started + frame * 20 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const packet = serializeRtpPacket({
        marker: frame === 0,
        payloadType,
        sequenceNumber: (1000 + frame) & 0xffff,
        timestamp: 5000 + frame * 160,
        ssrc,
        payload: encoded.subarray(frame * 160, frame * 160 + 160),
      });
      await this.send(to, packet);
    }
  }

  async waitFor(count: number, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} packets, got ${this.received.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

export function tone(frequency: number, seconds: number, amplitude = 8000): Int16Array {
  const samples = new Int16Array(Math.round(seconds * 8000));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / 8000));
  return samples;
}

export function rms(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** Power of one frequency (Goertzel), to tell which tone a signal carries. */
export function powerAt(samples: ArrayLike<number>, frequency: number, sampleRate = 8000): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = samples[i]! + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / Math.max(1, samples.length);
}

export function until(condition: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(check, 10);
    };
    check();
  });
}

// Softphone benchmark (issue 5: "concurrent softphone calls bridged to SIP on this machine and CPU per call
// (DTLS-SRTP in werift)"). Kefu's side runs in a child process (bench/softphone/server-child.ts): for each
// call a werift softphone (ICE-lite, DTLS-SRTP, PCMU) whose piped leg is bridged and recorded to a UDP RTP
// leg. This process plays the browsers (werift peers sending a tone) and the SIP callers (UDP, PCMA, 50
// packets/s), so both directions carry 50 packets/s per call, and counts what arrives. Both share the
// machine's CPUs: the browsers' werift costs about as much as Kefu's.
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import { encodeG711 } from '../src/adapters/media/g711.ts';
import { serializeRtpPacket } from '../src/adapters/media/rtp-packet.ts';
import { envInt, envList } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { cpuMs } from './phone/cpu.ts';

interface Step {
  calls: number;
  connected: number;
  seconds: number;
  kefuCpuPct: number;
  kefuCpuMsPerCallSecond: number;
  clientCpuPct: number;
  toBrowsersPct: number;
  toCallersPct: number;
  /** The machine's 1-minute load average before the step (other work on it skews the figures). */
  loadBefore: number;
}

const settings = () => ({
  calls: (envList('BENCH_SOFTPHONE_CALLS') ?? ['10', '25', '50', '100']).map(Number),
  seconds: Math.max(2, envInt('BENCH_SOFTPHONE_S', 10)),
});

const tone = (() => {
  const samples = new Int16Array(8000);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000));
  return { PCMU: encodeG711('PCMU', samples), PCMA: encodeG711('PCMA', samples) };
})();

function request<T>(child: ChildProcess, message: object, type: string, match?: (m: Record<string, unknown>) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (m.type !== type || (match && !match(m))) return;
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
    child.send(message);
  });
}

async function runStep(calls: number, seconds: number, log: (m: string) => void): Promise<Step> {
  const loadBefore = loadavg()[0]!;
  const child = fork(fileURLToPath(new URL('./softphone/server-child.ts', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  const peers: { pc: RTCPeerConnection; track: MediaStreamTrack; received: number }[] = [];
  const callers: { socket: Socket; port: number; received: number; to: number }[] = [];
  try {
    for (let i = 0; i < calls; i++) {
      const pc = new RTCPeerConnection({ codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: 0 })] }, iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false, iceUseIpv4: false });
      const track = new MediaStreamTrack({ kind: 'audio' });
      const peer = { pc, track, received: 0 };
      pc.addTransceiver(track, { direction: 'sendrecv' }).onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => peer.received++));
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((r) => (pc.iceGatheringState === 'complete' ? r() : pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && r())));
      const socket = createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
      const caller = { socket, port: socket.address().port, received: 0, to: 0 };
      socket.on('message', () => caller.received++);
      const opened = await request<{ sdp: string; callerLegPort: number }>(child, { type: 'open', id: `call-${i}`, sdp: pc.localDescription!.sdp, callerPort: caller.port }, 'opened', (m) => m.id === `call-${i}`);
      caller.to = opened.callerLegPort;
      await pc.setRemoteDescription({ type: 'answer', sdp: opened.sdp });
      peers.push(peer);
      callers.push(caller);
    }
    await new Promise((r) => setTimeout(r, 2000));
    const connected = peers.filter((p) => p.pc.connectionState === 'connected').length;
    log(`${calls} calls: ${connected} softphones connected`);
    let seq = 0;
    const timer = setInterval(() => {
      const frame = seq % 50;
      for (const p of peers) {
        p.track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 0, sequenceNumber: seq & 0xffff, timestamp: (seq * 160) >>> 0, ssrc: 1 }), Buffer.from(tone.PCMU.subarray(frame * 160, frame * 160 + 160))));
      }
      const packet = serializeRtpPacket({ marker: false, payloadType: 8, sequenceNumber: seq & 0xffff, timestamp: (seq * 160) >>> 0, ssrc: 2, payload: tone.PCMA.subarray(frame * 160, frame * 160 + 160) });
      for (const c of callers) c.socket.send(packet, c.to, '127.0.0.1');
      seq++;
    }, 20);
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    for (const p of peers) p.received = 0;
    for (const c of callers) c.received = 0;
    const kefu0 = cpuMs(child.pid!);
    const client0 = process.cpuUsage();
    const started = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const wall = performance.now() - started;
    const kefuMs = cpuMs(child.pid!) - kefu0;
    const client = process.cpuUsage(client0);
    clearInterval(timer);
    const expected = (connected * wall) / 20;
    const toBrowsers = peers.reduce((n, p) => n + p.received, 0);
    const toCallers = callers.reduce((n, c) => n + c.received, 0);
    return {
      calls,
      connected,
      seconds: wall / 1000,
      kefuCpuPct: (100 * kefuMs) / wall,
      kefuCpuMsPerCallSecond: kefuMs / Math.max(1, connected) / (wall / 1000),
      clientCpuPct: (100 * (client.user + client.system)) / 1000 / wall,
      toBrowsersPct: (100 * toBrowsers) / Math.max(1, expected),
      toCallersPct: (100 * toCallers) / Math.max(1, expected),
      loadBefore,
    };
  } finally {
    for (const p of peers) await p.pc.close().catch(() => undefined);
    for (const c of callers) c.socket.close();
    child.send({ type: 'close' });
    await new Promise((r) => child.once('exit', r));
  }
}

let last: Step[] = [];

export const softphoneBench: BenchModule = {
  name: 'softphone',
  title: 'WebRTC softphone calls bridged to SIP RTP (werift DTLS-SRTP)',
  comparison: null,
  describe() {
    const s = settings();
    return `Concurrent calls: each a werift softphone (ICE-lite, DTLS-SRTP, PCMU) whose leg Kefu bridges and records to a UDP RTP leg (PCMA, so the bridge transcodes), 50 packets/s each way per call, measured ${s.seconds} s per step at ${s.calls.join(', ')} calls. Kefu's side is one child process (one event loop); the browsers and callers run in the bench process on the same machine.`;
  },
  async run() {
    const s = settings();
    const log = (m: string) => process.stderr.write(`  ${m}\n`);
    last = [];
    for (const calls of s.calls) last.push(await runStep(calls, s.seconds, log));
    return [];
  },
  notes() {
    const f1 = (v: number) => v.toFixed(1);
    const rows = last.map((x) => [String(x.calls), String(x.connected), `${f1(x.kefuCpuPct)} %`, f1(x.kefuCpuMsPerCallSecond), `${f1(x.clientCpuPct)} %`, `${f1(x.toBrowsersPct)} %`, `${f1(x.toCallersPct)} %`, x.loadBefore.toFixed(1)]);
    const header = ['Calls', 'softphones connected', 'Kefu CPU (of 1 CPU)', 'Kefu CPU ms per call-second', 'browsers+callers CPU', 'RTP delivered to browsers', 'RTP delivered to callers', 'load average before'];
    return [header, header.map((_, i) => (i === 0 ? '---' : '---:')), ...rows].map((c) => `| ${c.join(' | ')} |`).join('\n');
  },
};

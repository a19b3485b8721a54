// A media worker thread: one UdpMediaEngine (its own sockets, its own 20 ms clock, its own slice of the RTP
// port range) driven by messages from the ThreadedMediaEngine. Everything per packet (receive, relay,
// transcode, record, prompts, DTMF detection) happens here, off the main thread's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import type { Bridge, Playback, RtpLeg } from '../media-port.ts';
import { UdpMediaEngine } from '../udp-media-engine.ts';
import type { UdpRtpLeg } from '../udp-rtp-leg.ts';
import type { Command, FromWorker, Request, ToWorker, WorkerSetup } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('media-worker.ts runs as a worker thread');
const setup = workerData as WorkerSetup;

const post = (message: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer ?? []);
const logger = {
  warn: (context: unknown, message?: string) => post({ ev: 'error', message: message ?? 'media worker warning', context: describe(context) }),
};

function describe(value: unknown): string {
  if (value instanceof Error) return value.stack ?? value.message;
  if (value && typeof value === 'object' && 'err' in value) {
    const { err, ...rest } = value as { err: unknown };
    return `${describe(err)} ${JSON.stringify(rest)}`;
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

const engine = new UdpMediaEngine({ bindAddress: setup.bindAddress, publicAddress: setup.publicAddress, portMin: setup.portMin, portMax: setup.portMax, logger });
const legs = new Map<string, RtpLeg>();
const piped = new Map<string, (packet: Buffer) => void>();
const audios = new Map<number, Int16Array>();
const playbacks = new Map<number, Playback>();
const bridges = new Map<number, Bridge>();

function reportStats(): void {
  if (legs.size === 0) return;
  post({ ev: 'stats', legs: [...legs].map(([id, leg]) => [id, (leg as UdpRtpLeg).stats()]) });
}
const statsTimer = setInterval(reportStats, setup.statsIntervalMs);

function leg(id: string): RtpLeg {
  const found = legs.get(id);
  if (!found) throw new Error(`no open leg ${id} in this media worker`);
  return found;
}

function adopt(opened: RtpLeg): { leg: string; local: { address: string; port: number } } {
  legs.set(opened.id, opened);
  opened.onDtmf((digit) => post({ ev: 'dtmf', leg: opened.id, digit }));
  return { leg: opened.id, local: opened.local };
}

async function answer(request: Request): Promise<unknown> {
  switch (request.op) {
    case 'openLeg':
      return adopt(await engine.openLeg(request.label));
    case 'openPipedLeg': {
      let id = '';
      const opened = await engine.openPipedLeg(request.label, (packet) => {
        // The leg reuses nothing it sent, but the packet may be a view on a pooled buffer: copy, then transfer.
        const copy = new Uint8Array(packet);
        post({ ev: 'piped', leg: id, packet: copy }, [copy.buffer]);
      });
      id = opened.leg.id;
      piped.set(id, opened.deliver);
      return adopt(opened.leg);
    }
    case 'closeLeg': {
      const found = legs.get(request.leg);
      legs.delete(request.leg);
      piped.delete(request.leg);
      await found?.close();
      // The final counters, so stats() after close() is exact.
      return found ? (found as UdpRtpLeg).stats() : null;
    }
    case 'sendDtmf': {
      const target = leg(request.leg);
      if (!target.sendDtmf) throw new Error('this leg cannot send DTMF');
      await target.sendDtmf(request.digit, request.durationMs);
      return null;
    }
    case 'bridgeStop': {
      const bridge = bridges.get(request.bridge);
      bridges.delete(request.bridge);
      return bridge ? await bridge.stop() : null;
    }
    case 'recordingStop': {
      const recording = bridges.get(request.bridge)?.recording;
      return recording ? await recording.stop() : null;
    }
    case 'stats':
      reportStats();
      return null;
    case 'close':
      clearInterval(statsTimer);
      await engine.close();
      return null;
  }
}

function run(command: Command): void {
  switch (command.op) {
    case 'setRemote':
      legs.get(command.leg)?.setRemote(command.remote, command.codec, command.payloadType, command.dtmfPayloadType, command.alsoReceive);
      return;
    case 'deliver':
      piped.get(command.leg)?.(Buffer.from(command.packet.buffer, command.packet.byteOffset, command.packet.byteLength));
      return;
    case 'audio':
      audios.set(command.audio, command.samples);
      return;
    case 'dropAudio':
      audios.delete(command.audio);
      return;
    case 'play': {
      const target = legs.get(command.leg);
      const audio = audios.get(command.audio);
      if (!target || !audio) {
        post({ ev: 'playDone', playback: command.playback, result: 'stopped' });
        return;
      }
      let playback: Playback;
      try {
        playback = target.play(audio, { loop: command.loop });
      } catch (error) {
        post({ ev: 'playDone', playback: command.playback, result: 'stopped' });
        throw error;
      }
      playbacks.set(command.playback, playback);
      void playback.done.then((result) => {
        playbacks.delete(command.playback);
        post({ ev: 'playDone', playback: command.playback, result });
      });
      return;
    }
    case 'stopPlayback':
      legs.get(command.leg)?.stopPlayback();
      return;
    case 'stopPlay':
      playbacks.get(command.playback)?.stop();
      return;
    case 'bridge':
      bridges.set(command.bridge, engine.bridge(leg(command.a), leg(command.b), command.recordTo ? { recordTo: command.recordTo } : undefined));
      return;
    case 'bridgePause':
      bridges.get(command.bridge)?.pause?.();
      return;
    case 'bridgeResume':
      bridges.get(command.bridge)?.resume?.();
      return;
  }
}

port.on('message', (message: ToWorker) => {
  if ('id' in message) {
    answer(message).then(
      (value) => post({ id: message.id, ok: true, value: value as never }),
      (error: unknown) => post({ id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
    return;
  }
  try {
    run(message);
  } catch (error) {
    post({ ev: 'error', message: error instanceof Error ? error.message : String(error), context: message.op });
  }
});

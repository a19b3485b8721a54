// An AV media worker thread (av-media-threads.ts starts it): the werift peer connections of the calls given to
// this thread, with their UDP sockets, SRTP, the relay between a call's two peers and the feed of their
// recordings (on recording threads of its own), driven by the main thread's signalling (av-media-protocol.ts).
import { parentPort, workerData } from 'node:worker_threads';
import type { AvCall, AvParticipantRecording } from './av-call.ts';
import { AvOfferError } from './av-offer.ts';
import type { AvPeer } from './av-peer.ts';
import { LocalAvMedia } from './av-media.ts';
import { STATUS_MS, type FromMedia, type MediaWorkerData, type NegotiatedPeer, type ToMedia } from './av-media-protocol.ts';

const port = parentPort;
if (!port) throw new Error('av-media-worker.ts runs as a worker thread');
const post = (message: FromMedia) => port.postMessage(message);
const data = workerData as MediaWorkerData;
const media = new LocalAvMedia(data.options, data.recordingThreads);

const peers = new Map<number, AvPeer>();
const calls = new Map<number, AvCall>();
const recordings = new Map<string, AvParticipantRecording>();

const negotiated = (peer: AvPeer): NegotiatedPeer => ({ answerSdp: peer.answerSdp, videoCodec: peer.videoCodec, reservedVideoCodec: peer.reservedVideoCodec });
const failed = (id: number, err: unknown) => post({ ev: 'failed', id, message: err instanceof Error ? err.message : String(err), offerError: err instanceof AvOfferError });

/** Forgets a peer this thread no longer holds (closed here, or by its call). */
function forget(peer: AvPeer | null): void {
  for (const [id, p] of peers) if (p === peer) peers.delete(id);
}

async function answer(m: Extract<ToMedia, { op: 'answer' }>): Promise<void> {
  const peer = await media.answer(m.offerSdp, m.video, m.reserveVideo);
  peers.set(m.peerId, peer);
  peer.onGone((why) => {
    peers.delete(m.peerId);
    post({ ev: 'gone', peerId: m.peerId, why });
  });
  void peer.whenConnected().then(() => post({ ev: 'connected', peerId: m.peerId }));
  post({ ev: 'done', id: m.id, peer: negotiated(peer) });
}

async function closeCall(callId: number): Promise<void> {
  const call = calls.get(callId);
  calls.delete(callId);
  if (!call) return;
  const agent = call.agentPeer;
  await call.close();
  forget(agent);
  forget(call.customer);
}

port.on('message', (m: ToMedia) => {
  switch (m.op) {
    case 'answer':
      answer(m).catch((err: unknown) => failed(m.id, err));
      return;
    case 'renegotiate': {
      const peer = peers.get(m.peerId);
      if (!peer) return failed(m.id, new AvOfferError('the call has ended'));
      peer.renegotiate(m.offerSdp, m.video).then(
        () => post({ ev: 'done', id: m.id, peer: negotiated(peer) }),
        (err: unknown) => failed(m.id, err),
      );
      return;
    }
    case 'closePeer': {
      const peer = peers.get(m.peerId);
      peers.delete(m.peerId);
      void (peer?.close() ?? Promise.resolve()).then(() => post({ ev: 'done', id: m.id }));
      return;
    }
    case 'keyframe':
      peers.get(m.peerId)?.requestKeyframe();
      return;
    case 'call': {
      const customer = peers.get(m.customerId);
      if (customer) calls.set(m.callId, media.call(customer));
      return;
    }
    case 'attach': {
      const call = calls.get(m.callId);
      const peer = peers.get(m.peerId);
      if (!call || !peer) return;
      forget(call.agentPeer);
      call.attachAgent(m.agentId, peer);
      return;
    }
    case 'detach':
      forget(calls.get(m.callId)?.detachAgent() ?? null);
      return;
    case 'hold':
      calls.get(m.callId)?.setHeld(m.held);
      return;
    case 'closeCall':
      void closeCall(m.callId).finally(() => post({ ev: 'done', id: m.id }));
      return;
    case 'record': {
      const peer = peers.get(m.peerId);
      if (!peer) return post({ ev: 'done', id: m.id, recording: false });
      const onError = (err: unknown) => post({ ev: 'recordingError', recordingId: m.recordingId, message: err instanceof Error ? err.message : String(err) });
      media.record(peer, { recordingId: m.recordingId, path: m.path }, onError).then(
        (recording) => {
          if (recording) recordings.set(m.recordingId, recording);
          post({ ev: 'done', id: m.id, recording: recording !== null });
        },
        (err: unknown) => failed(m.id, err),
      );
      return;
    }
    case 'stopRecording': {
      const recording = recordings.get(m.recordingId);
      recordings.delete(m.recordingId);
      if (!recording) return post({ ev: 'done', id: m.id, stopped: { durationMs: 0, bytes: 0 } });
      recording.stop().then(
        (stopped) => post({ ev: 'done', id: m.id, stopped }),
        (err: unknown) => failed(m.id, err),
      );
      return;
    }
  }
});

post({ ev: 'ready' });

// Each peer's last RTP time and received kinds, for the main thread's watchdog (and restartRecordingWithVideo).
setInterval(() => {
  if (peers.size === 0) return;
  post({ ev: 'status', peers: [...peers].map(([id, p]) => [id, p.lastRtpAt, (p.hasTrack('audio') ? 1 : 0) | (p.hasTrack('video') ? 2 : 0)]) });
}, STATUS_MS);

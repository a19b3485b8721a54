// The werift peer connections that stand in for browsers (the softphone and AV specs, bench/av's peers):
// Kefu takes complete offers (no trickle ICE) and the stand-ins wait for DTLS before sending media. Bench
// imports this file too.
import type { RTCPeerConnection } from 'werift';
import { iceGatheringComplete } from '../../src/adapters/webrtc/ice-gathering.ts';

/** Creates and sets `pc`'s offer; its SDP once every ICE candidate is in it. */
export async function completeOffer(pc: RTCPeerConnection): Promise<string> {
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc);
  return pc.localDescription!.sdp;
}

/** Resolves once `pc` is connected (DTLS up); rejects when it fails or closes, or after `timeoutMs`. */
export function peerConnected(pc: RTCPeerConnection, timeoutMs: number, who = 'peer'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (pc.connectionState === 'connected') return resolve();
    const { unSubscribe } = pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') done();
      else if (state === 'failed' || state === 'closed') done(new Error(`${who}: connection ${state} (ICE ${pc.iceConnectionState})`));
    });
    const timer = setTimeout(() => done(new Error(`${who} not connected in ${timeoutMs / 1000} s: ${pc.connectionState} (ICE ${pc.iceConnectionState})`)), timeoutMs);
    function done(error?: Error): void {
      clearTimeout(timer);
      unSubscribe();
      if (error) reject(error);
      else resolve();
    }
  });
}

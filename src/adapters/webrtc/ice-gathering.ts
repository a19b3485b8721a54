// Kefu answers with complete SDP (no trickle ICE): an answer is sent once werift has gathered every candidate.
import type { RTCPeerConnection } from 'werift';

/** Resolves once `pc` has gathered all its ICE candidates (at once if it already has). */
export function iceGatheringComplete(pc: RTCPeerConnection): Promise<void> {
  return new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== 'complete') return;
      unSubscribe();
      resolve();
    });
  });
}

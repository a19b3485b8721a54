// The werift peer connections that stand in for browsers (the softphone and AV specs, bench/av's peers):
// Kefu takes complete offers (no trickle ICE) and the stand-ins wait for DTLS before sending media. Bench
// imports this file too. Importing it makes werift's ICE checks and consent in this process as patient as a
// browser's (below): Kefu answers ICE-lite and sends neither, so only the stand-ins change.
import { Connection, StunProtocol, type RTCPeerConnection } from 'werift';
import { iceGatheringComplete } from '../../src/adapters/webrtc/ice-gathering.ts';
// A browser's DTLS waits for a flight's missing message as long as Kefu's does.
import '../../src/adapters/webrtc/werift-dtls-patience.ts';

// A browser keeps checking a candidate pair for seconds before it gives up on it (Chrome: 5 s and more); werift
// gives up after 1.55 s (a check sent at 0, 50, 150, 350 and 750 ms). On a loaded machine a stall of Kefu's or of
// the stand-ins' event loop (a timer runs before the answer already waiting in the socket is read) failed ICE
// where a browser would have waited (bench av: 20 calls, load 15, 10 failed with "ICE failed"). The stand-ins check as a
// browser would: seven retransmissions from 100 ms, some 25 s in all.
const iceChecks = Connection.prototype as unknown as { checkRequestOptions(pair: unknown): { retransmissions?: number; responseTimeout?: number } };
const weriftCheckOptions = iceChecks.checkRequestOptions;
if (typeof weriftCheckOptions !== 'function') throw new Error("werift's ICE Connection has no checkRequestOptions: check test/support/werift-peer.ts against the werift version");
iceChecks.checkRequestOptions = function browserLikeChecks(this: unknown, pair: unknown) {
  const options = weriftCheckOptions.call(this, pair);
  return options.responseTimeout === undefined ? { ...options, retransmissions: 7, responseTimeout: 100 } : options;
};
// The same for consent (RFC 7675): once connected, werift checks every 4-6 s with one request that waits twice the
// round trip (at least 500 ms) and no resend, and fails the connection 30 s after the last answer it took. A
// stall of half a second of either process (this one reads the socket after its timers) loses a check, so a
// connection on a loaded machine failed with its media flowing. A browser keeps consent while any answer
// comes within 30 s. The stand-ins' consent checks wait 1.3 s and are sent once more (3.9 s, under the interval).
const stun = StunProtocol.prototype as unknown as { request(request: unknown, addr: unknown, key: unknown, options: unknown, onSent?: unknown): Promise<unknown> };
const weriftRequest = stun.request;
if (typeof weriftRequest !== 'function') throw new Error("werift's StunProtocol has no request: check test/support/werift-peer.ts against the werift version");
stun.request = function patientConsent(this: unknown, request: unknown, addr: unknown, key: unknown, options: unknown, onSent?: unknown) {
  const o = options as { retransmissions?: number; responseTimeout?: number; signal?: AbortSignal } | undefined;
  const consent = o && typeof o === 'object' && o.retransmissions === 0 && o.signal !== undefined;
  return weriftRequest.call(this, request, addr, key, consent ? { ...o, retransmissions: 1, responseTimeout: Math.max(o.responseTimeout ?? 0, 1300) } : options, onSent);
};

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

// werift's DTLS handshake waits at most 4.5 s (ten looks, 0 to 900 ms apart) for the rest of a flight once one
// of its messages has come (waitForReady: a ServerHelloDone before the Certificate, a Finished before the
// ClientKeyExchange), then fails the whole connection. RFC 6347 (4.2.4) has the missing message come again
// with the peer's retransmitted flight; on a loaded machine that can take longer than 4.5 s, and the call's
// connection failed with ICE up and the other side still 'connecting' (AV bench: Kefu's peer "connection
// failed", the stand-in's pair succeeded, its DTLS connecting). Here the wait looks every 100 ms for up to 30 s
// (the flights' own retransmission limit ends a handshake that is really dead). The instance's waitForReady is
// replaced where werift's DtlsSocket constructor calls setupExtensions. Imported for its effect.
import { DtlsSocket } from 'werift';

/** The longest wait for the rest of a flight. */
export const dtlsFlightWaitMs = 30_000;
const lookEveryMs = 100;

interface SocketInternals {
  setupExtensions(): void;
  waitForReady?: (condition: () => boolean) => Promise<void>;
}

/** Resolves once `condition()` holds (looked at now, then every 100 ms); rejects as werift's after `limitMs`. */
export function waitPatiently(condition: () => boolean, limitMs = dtlsFlightWaitMs): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const look = () => {
      if (condition()) return resolve();
      if (Date.now() - started >= limitMs) return reject(new Error('waitForReady timeout'));
      setTimeout(look, lookEveryMs);
    };
    look();
  });
}

const proto = DtlsSocket.prototype as unknown as SocketInternals;
const setupExtensions = proto.setupExtensions;
if (typeof setupExtensions !== 'function') throw new Error("werift's DtlsSocket has no setupExtensions: check werift-dtls-patience.ts against the werift version");
proto.setupExtensions = function setupExtensionsAndPatience(this: SocketInternals) {
  if (typeof this.waitForReady === 'function') this.waitForReady = (condition) => waitPatiently(condition);
  setupExtensions.call(this);
};

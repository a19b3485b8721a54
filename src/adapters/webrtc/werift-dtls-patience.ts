// werift's DTLS handshake waits at most 4.5 s (ten looks, 0 to 900 ms apart) for the rest of a flight once one
// of its messages has come (waitForReady: a ServerHelloDone before the Certificate, a Finished before the
// ClientKeyExchange), then fails the whole connection. RFC 6347 (4.2.4) has the missing message come again
// with the peer's retransmitted flight; on a loaded machine that can take longer than 4.5 s, and the call's
// connection failed with ICE up and the other side still 'connecting' (AV bench: Kefu's peer "connection
// failed", the stand-in's pair succeeded, its DTLS connecting). Here the wait looks every 100 ms for up to 30 s
// (the flights' own retransmission limit ends a handshake that is really dead). The instance's waitForReady is
// replaced where werift's DtlsSocket constructor calls setupExtensions.
//
// A HelloVerifyRequest that comes again is ignored by the client. The client resends its first ClientHello
// after 500 ms; a server answers each ClientHello (resent or not) with a HelloVerifyRequest carrying the same
// cookie, so on a loaded machine the client gets two. werift's client answered the first with flight 3 and
// threw on the second ('Flight3.exec' refuses a second flight 3), which failed the connection: Kefu's peer
// "connection failed" at set-up, the stand-in's ICE pair succeeded and its DTLS connecting (AV bench, 10 calls
// at load 15: 4 of 10 calls). Flight 3 is resent by its own timer until the server's flight 4 comes, so the
// repeat needs no answer (RFC 6347 4.2.4). Set on each DtlsClient when it connects. Imported for its effect.
import { DtlsClient, DtlsSocket } from 'werift';

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

/** werift's handshake type of a HelloVerifyRequest (RFC 6347 4.2.1). */
const helloVerifyRequest = 3;

interface ClientInternals {
  dtls: { flight: number };
  onHandleHandshakes: (assembled: { msg_type: number }[]) => Promise<void>;
  connect(): Promise<void>;
}

const client = DtlsClient.prototype as unknown as ClientInternals;
const connect = client.connect;
if (typeof connect !== 'function') throw new Error("werift's DtlsClient has no connect: check werift-dtls-patience.ts against the werift version");
client.connect = function connectIgnoringRepeatedHelloVerify(this: ClientInternals) {
  const handle = this.onHandleHandshakes;
  if (typeof handle !== 'function') throw new Error("werift's DtlsClient has no onHandleHandshakes: check werift-dtls-patience.ts against the werift version");
  this.onHandleHandshakes = (assembled) => {
    // Flight 3 (the ClientHello with the cookie) went already: a repeated HelloVerifyRequest asks nothing new.
    const fresh = this.dtls.flight >= 3 ? assembled.filter((h) => h.msg_type !== helloVerifyRequest) : assembled;
    return fresh.length === 0 ? Promise.resolve() : handle.call(this, fresh);
  };
  return connect.call(this);
};

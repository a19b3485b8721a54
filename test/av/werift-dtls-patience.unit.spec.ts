// werift's DTLS flights wait up to 30 s for their missing messages (src/adapters/webrtc/werift-dtls-patience.ts):
// a socket's waitForReady is the patient one, takes a condition met after werift's 4.5 s, and still gives up.
// A client that gets the server's HelloVerifyRequest twice (the answer to its resent ClientHello) connects.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CipherContext, DtlsClient, DtlsServer, HashAlgorithm, NamedCurveAlgorithm, SignatureAlgorithm } from 'werift';
import { dtlsFlightWaitMs, waitPatiently } from '../../src/adapters/webrtc/werift-dtls-patience.ts';

describe("werift's DTLS handshake waits", () => {
  afterEach(() => vi.useRealTimers());

  it('waits past 4.5 s for the rest of a flight, and gives up after 30 s', async () => {
    vi.useFakeTimers();
    let ready = false;
    const waited = waitPatiently(() => ready);
    await vi.advanceTimersByTimeAsync(6_000);
    ready = true;
    await vi.advanceTimersByTimeAsync(200);
    await expect(waited).resolves.toBeUndefined();
    const never = waitPatiently(() => false);
    const outcome = never.catch((e: Error) => e.message);
    await vi.advanceTimersByTimeAsync(dtlsFlightWaitMs + 200);
    expect(await outcome).toBe('waitForReady timeout');
  });

  it("gives werift's sockets the patient wait", () => {
    const client = new DtlsClient({ transport: { onData: undefined, send: () => Promise.resolve(), close: () => undefined } as never, srtpProfiles: [] } as never);
    expect(String((client as unknown as { waitForReady: unknown }).waitForReady)).toContain('waitPatiently');
  });

  it('a client given the same HelloVerifyRequest twice ignores the repeat and connects', async () => {
    /** One direction of an in-memory datagram link; `repeatFirst` delivers the first datagram again 50 ms later. */
    class Link {
      onData: (buf: Buffer) => void = () => undefined;
      peer: Link | null = null;
      sent = 0;
      private readonly repeatFirst: boolean;
      constructor(repeatFirst: boolean) {
        this.repeatFirst = repeatFirst;
      }
      send = (buf: Buffer): Promise<void> => {
        const first = this.sent++ === 0;
        setImmediate(() => this.peer?.onData(buf));
        if (first && this.repeatFirst) setTimeout(() => this.peer?.onData(buf), 50);
        return Promise.resolve();
      };
      close(): void {
        this.peer = null;
      }
    }
    const toServer = new Link(false);
    // The server's first datagram is its HelloVerifyRequest: it comes twice, as when it answered a resent ClientHello.
    const toClient = new Link(true);
    toServer.peer = toClient;
    toClient.peer = toServer;
    const cert = await CipherContext.createSelfSignedCertificateWithKey({ signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 }, NamedCurveAlgorithm.secp256r1_23);
    const keys = { cert: cert.certPem, key: cert.keyPem, signatureHash: cert.signatureHash };
    const server = new DtlsServer({ ...keys, transport: toClient as never, certificateRequest: true, extendedMasterSecret: true } as never);
    const client = new DtlsClient({ ...keys, transport: toServer as never, extendedMasterSecret: true } as never);
    const errors: unknown[] = [];
    client.onError.subscribe((e) => errors.push(e));
    server.onError.subscribe((e) => errors.push(e));
    const connected = Promise.all([new Promise<void>((r) => client.onConnect.once(() => r())), new Promise<void>((r) => server.onConnect.once(() => r()))]);
    await client.connect();
    await connected;
    expect(errors).toEqual([]);
    expect(toClient.sent).toBeGreaterThan(1);
    client.close();
    server.close();
  }, 30_000);
});

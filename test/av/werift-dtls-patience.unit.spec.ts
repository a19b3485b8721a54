// werift's DTLS flights wait up to 30 s for their missing messages (src/adapters/webrtc/werift-dtls-patience.ts):
// a socket's waitForReady is the patient one, takes a condition met after werift's 4.5 s, and still gives up.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DtlsClient } from 'werift';
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
});

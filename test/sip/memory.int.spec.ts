// What a SIP flood costs in memory: every answered request leaves a transaction for 32 s (to answer
// retransmissions). It must keep its small response, not the request's datagram: V8 keeps a substring's
// whole source text alive, and the response shares strings with the request.
import { createSocket } from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSipServer, type TestSipServer } from './sip-test-server.ts';

const port = 15075;
const PADS = 7;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('memory under a flood of requests', () => {
  let sip: TestSipServer;
  beforeAll(async () => {
    sip = await startTestSipServer(port);
  });
  afterAll(async () => {
    await sip?.stop();
  });

  it('keeps a few KB per answered request, however large the request was', async () => {
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    let answered = 0;
    udp.on('message', () => answered++);
    const pad = 'a'.repeat(8000);
    const options = (i: number) =>
      [
        `OPTIONS sip:kefu@127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${udp.address().port};branch=z9hG4bK-memory-${i};rport`,
        'From: <sip:flood@127.0.0.1>;tag=flood',
        'To: <sip:kefu@127.0.0.1>',
        `Call-ID: memory-${i}`,
        'CSeq: 1 OPTIONS',
        // Seven 8 KB headers: a 56 KB request.
        ...Array.from({ length: PADS }, (_, h) => `X-Pad-${h}: ${pad}`),
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    const before = heapAfterGc();
    // One at a time: a socket's receive buffer holds only a few datagrams this large.
    for (let i = 0; i < 1200; i++) {
      const target = answered + 1;
      udp.send(options(i), port, '127.0.0.1');
      const deadline = Date.now() + 500;
      while (answered < target && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    }
    const perRequest = (heapAfterGc() - before) / answered;
    udp.close();
    expect(answered).toBeGreaterThan(1000);
    console.log(`${answered} requests of ${PADS * 8} KB answered; heap kept ${Math.round(perRequest)} bytes each`);
    // Measured: about 3 KB (the transaction, its timers and response); the request alone is 64 KB.
    expect(perRequest).toBeLessThan(10_000);
  });
});

// werift's ICE sockets with a larger receive buffer (src/adapters/webrtc/werift-udp-buffers.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UdpTransport } from 'werift';

describe("werift's UDP sockets", () => {
  it('ask for 1 MiB of receive buffer once bound (as much as net.core.rmem_max allows), and still carry datagrams', async () => {
    const before = await UdpTransport.init('udp4', { interfaceAddresses: { udp4: '127.0.0.1' } });
    const defaultSize = before.socket.getRecvBufferSize();
    await before.close();
    const { weriftReceiveBufferBytes } = await import('../../src/adapters/webrtc/werift-udp-buffers.ts');
    const transport = await UdpTransport.init('udp4', { interfaceAddresses: { udp4: '127.0.0.1' } });
    try {
      const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
      // Linux reports twice what was set (its bookkeeping), capped at twice rmem_max.
      expect(transport.socket.getRecvBufferSize()).toBe(2 * Math.min(weriftReceiveBufferBytes, rmemMax));
      if (rmemMax > defaultSize) expect(transport.socket.getRecvBufferSize()).toBeGreaterThan(defaultSize);
      const got = new Promise<Buffer>((resolve) => (transport.onData = (data) => resolve(data)));
      const other = await UdpTransport.init('udp4', { interfaceAddresses: { udp4: '127.0.0.1' } });
      await other.send(Buffer.from('hello'), ['127.0.0.1', transport.socket.address().port]);
      expect(String(await got)).toBe('hello');
      await other.close();
    } finally {
      await transport.close();
    }
  });

  it('tells once, as a warning with what was asked and what the OS gave, when net.core.rmem_max caps the buffer', async () => {
    const { probeReceiveBuffer, warnIfReceiveBufferCapped } = await import('../../src/adapters/webrtc/werift-udp-buffers.ts');
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    expect(await probeReceiveBuffer(64 * 1024)).toEqual({ asked: 64 * 1024, got: 64 * 1024, capped: false });
    const warnings: [Record<string, unknown>, string][] = [];
    const logger = { warn: (fields: Record<string, unknown>, message: string) => warnings.push([fields, message]) };
    await warnIfReceiveBufferCapped(logger as never, 64 * 1024);
    expect(warnings).toEqual([]);
    const tooMuch = 2 * rmemMax;
    expect(await warnIfReceiveBufferCapped(logger as never, tooMuch)).toEqual({ asked: tooMuch, got: rmemMax, capped: true });
    expect(warnings).toEqual([[{ askedBytes: tooMuch, gotBytes: rmemMax }, expect.stringMatching(/net\.core\.rmem_max/)]]);
  });
});

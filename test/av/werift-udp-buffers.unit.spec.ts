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
});

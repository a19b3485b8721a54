// werift's ICE sockets (UdpTransport) keep the kernel's default receive buffer (212,992 bytes on Debian: some
// 90 full-size video packets). Kefu reads every AV and softphone call's packets on one event loop: a pause of a
// fraction of a second (a garbage collection, many calls starting at once, a busy machine) filled a socket's
// buffer and the kernel dropped what came after (the AV bench counts these drops at Kefu's sockets). Each of
// werift's UDP sockets asks for 1 MiB once bound; the kernel caps it at net.core.rmem_max (212,992 by default
// on Debian: raise it, e.g. sysctl net.core.rmem_max=4194304, for many calls). Imported for its effect.
import type { Socket } from 'node:dgram';
import { UdpTransport } from 'werift';

export const weriftReceiveBufferBytes = 1 << 20;

interface Transport {
  socket: Socket;
  init(): Promise<void>;
}

const proto = UdpTransport.prototype as unknown as Transport;
if (typeof proto.init !== 'function') throw new Error("werift's UdpTransport has no init: check werift-udp-buffers.ts against the werift version");
const init = proto.init;
proto.init = async function initWithBuffer(this: Transport): Promise<void> {
  await init.call(this);
  try {
    this.socket.setRecvBufferSize(weriftReceiveBufferBytes);
  } catch {
    // Not allowed here: the kernel's default stays.
  }
};

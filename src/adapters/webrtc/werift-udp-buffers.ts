// werift's ICE sockets (UdpTransport) keep the kernel's default receive buffer (212,992 bytes on Debian: some
// 90 full-size video packets). Kefu reads every AV and softphone call's packets on one event loop: a pause of a
// fraction of a second (a garbage collection, many calls starting at once, a busy machine) filled a socket's
// buffer and the kernel dropped what came after (the AV bench counts these drops at Kefu's sockets). Each of
// werift's UDP sockets asks for 1 MiB once bound; the kernel caps it at net.core.rmem_max (212,992 by default
// on Debian: raise it, e.g. sysctl net.core.rmem_max=4194304, for many calls). Imported for its effect.
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { UdpTransport } from 'werift';

export const weriftReceiveBufferBytes = 1 << 20;

/** What a UDP socket gets when it asks for `asked` bytes of receive buffer here (the OS may cap it). */
export interface ReceiveBufferProbe {
  asked: number;
  /** What the socket has, in the units asked (Linux reports twice what it keeps for data: halved here). */
  got: number;
  capped: boolean;
}

/** Binds a UDP socket on loopback, asks for `asked` bytes of receive buffer, and reads what it got. */
export async function probeReceiveBuffer(asked = weriftReceiveBufferBytes): Promise<ReceiveBufferProbe> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    try {
      socket.setRecvBufferSize(asked);
    } catch {
      // Refused: what the socket has is the answer.
    }
    const reported = socket.getRecvBufferSize();
    const got = process.platform === 'linux' ? Math.floor(reported / 2) : reported;
    return { asked, got, capped: got < asked };
  } finally {
    socket.close();
  }
}

/**
 * Tells (a warning, once per call: AvCalls.start) when the OS gives the media sockets less receive buffer than
 * they ask for, and what to raise. Returns the probe.
 */
export async function warnIfReceiveBufferCapped(logger: Pick<Logger, 'warn'>, asked = weriftReceiveBufferBytes): Promise<ReceiveBufferProbe> {
  const probe = await probeReceiveBuffer(asked);
  if (probe.capped) {
    logger.warn(
      { askedBytes: probe.asked, gotBytes: probe.got },
      `AV media sockets ask for ${probe.asked} bytes of UDP receive buffer; the OS gives ${probe.got} (Linux: net.core.rmem_max). Packets that come while a media thread is busy are dropped when it is full: raise it, e.g. sysctl -w net.core.rmem_max=${Math.max(4 << 20, probe.asked)}`,
    );
  }
  return probe;
}

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

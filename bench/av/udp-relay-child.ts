// The ceiling of the AV bench (bench/av.ts): a bare UDP forwarder, in a process of its own so that its CPU
// time is its own. Per call two sockets on 127.0.0.1, one facing the customer's stand-in, one the agent's;
// whatever arrives on one goes out of the other to the other side as it came (no SRTP, no parsing, no
// recording). IPC: { type: 'open', calls: [{ customer, agent }] } (the stand-ins' ports) -> { type: 'opened',
// ports: [{ customer, agent }] } (where each sends to); { type: 'close' }.
import { createSocket, type Socket } from 'node:dgram';
import { weriftReceiveBufferBytes } from '../../src/adapters/webrtc/werift-udp-buffers.ts';

const sockets: Socket[] = [];

async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  // The same receive buffer as Kefu's (werift's) sockets ask for.
  socket.setRecvBufferSize(weriftReceiveBufferBytes);
  sockets.push(socket);
  return socket;
}

process.on('message', (m: { type: string; calls?: { customer: number; agent: number }[] }) => {
  if (m.type === 'close') {
    for (const s of sockets) s.close();
    process.exit(0);
  }
  if (m.type !== 'open') return;
  void (async () => {
    const ports: { customer: number; agent: number }[] = [];
    for (const call of m.calls ?? []) {
      const toCustomer = await bound();
      const toAgent = await bound();
      toCustomer.on('message', (packet) => toAgent.send(packet, call.agent, '127.0.0.1'));
      toAgent.on('message', (packet) => toCustomer.send(packet, call.customer, '127.0.0.1'));
      ports.push({ customer: toCustomer.address().port, agent: toAgent.address().port });
    }
    process.send!({ type: 'opened', ports });
  })().catch((err: unknown) => process.send!({ type: 'error', message: (err as Error).message }));
});
process.send!({ type: 'ready' });

// One worker thread of the RTP load generator: for each relayed call it owns two UDP sockets, side A (the
// customer) and side B (the agent), each sending one 172-byte RTP packet (12-byte header, 160 bytes of PCMU:
// 20 ms of G.711) every 20 ms to the relay, and counting the packets it receives from the relay. Sends are
// paced by the wall clock: a late timer sends the ticks it missed, so the offered rate stays exact.
import { createSocket, type Socket } from 'node:dgram';
import { parentPort } from 'node:worker_threads';

interface Side {
  socket: Socket;
  dest: number;
  seq: number;
  ts: number;
  ssrc: number;
}

let sides: Side[] = [];
let sent = 0;
let received = 0;
let timer: NodeJS.Timeout | null = null;
const payload = Buffer.alloc(160, 0xff); // PCMU silence-ish

function packet(side: Side): Buffer {
  const b = Buffer.allocUnsafe(172);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt16BE(side.seq, 2);
  b.writeUInt32BE(side.ts >>> 0, 4);
  b.writeUInt32BE(side.ssrc >>> 0, 8);
  payload.copy(b, 12);
  side.seq = (side.seq + 1) & 0xffff;
  side.ts = (side.ts + 160) >>> 0;
  return b;
}

function bind(): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind({ port: 0, address: '127.0.0.1' }, () => {
      s.off('error', reject);
      s.on('message', () => received++);
      s.on('error', () => undefined);
      resolve(s);
    });
  });
}

parentPort!.on('message', async (m: { cmd: string; count?: number; dests?: number[] }) => {
  switch (m.cmd) {
    case 'bind': {
      const made: Side[] = [];
      for (let i = 0; i < m.count! * 2; i++) made.push({ socket: await bind(), dest: 0, seq: i & 0xffff, ts: i * 1000, ssrc: (Math.random() * 2 ** 32) >>> 0 });
      sides = made;
      sent = 0;
      received = 0;
      parentPort!.postMessage({ ports: sides.map((s) => s.socket.address().port) });
      break;
    }
    case 'start': {
      m.dests!.forEach((d, i) => (sides[i]!.dest = d));
      const origin = performance.now();
      let ticks = 0;
      const loop = () => {
        const due = Math.floor((performance.now() - origin) / 20) + 1;
        // At most a second of missed ticks is replayed.
        if (due - ticks > 50) ticks = due - 50;
        for (; ticks < due; ticks++) {
          for (const side of sides) {
            side.socket.send(packet(side), side.dest, '127.0.0.1');
            sent++;
          }
        }
        timer = setTimeout(loop, Math.max(1, origin + ticks * 20 - performance.now()));
      };
      loop();
      parentPort!.postMessage({ started: true });
      break;
    }
    case 'count':
      parentPort!.postMessage({ sent, received });
      break;
    case 'halt': {
      // Stop sending; the sockets stay open so that packets still in the relay are counted.
      if (timer) clearTimeout(timer);
      timer = null;
      parentPort!.postMessage({ halted: true });
      break;
    }
    case 'stop': {
      if (timer) clearTimeout(timer);
      timer = null;
      await Promise.all(sides.map((s) => new Promise<void>((r) => s.socket.close(() => r()))));
      sides = [];
      parentPort!.postMessage({ stopped: true });
      break;
    }
  }
});

// rtpengine (Debian's rtpengine-daemon, userspace forwarding only: --table=-1) as the relay peer, driven over
// its ng control protocol: bencoded dictionaries over UDP, each prefixed with a cookie that the reply repeats.
// A relayed call is an `offer` (side A's SDP; the reply's SDP is what side B must send to) and an `answer`
// (side B's SDP; the reply's SDP is what side A must send to).
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';

type Bencoded = string | number | Bencoded[] | { [key: string]: Bencoded };

export function bencode(v: Bencoded): Buffer {
  if (typeof v === 'number') return Buffer.from(`i${Math.trunc(v)}e`);
  if (typeof v === 'string') {
    const b = Buffer.from(v);
    return Buffer.concat([Buffer.from(`${b.length}:`), b]);
  }
  if (Array.isArray(v)) return Buffer.concat([Buffer.from('l'), ...v.map(bencode), Buffer.from('e')]);
  const keys = Object.keys(v).sort();
  return Buffer.concat([Buffer.from('d'), ...keys.flatMap((k) => [bencode(k), bencode(v[k]!)]), Buffer.from('e')]);
}

export function bdecode(buf: Buffer): Bencoded {
  let i = 0;
  const next = (): Bencoded => {
    const c = String.fromCharCode(buf[i]!);
    if (c === 'i') {
      const end = buf.indexOf(0x65, i);
      const n = Number(buf.subarray(i + 1, end).toString());
      i = end + 1;
      return n;
    }
    if (c === 'l' || c === 'd') {
      i++;
      const items: Bencoded[] = [];
      while (buf[i] !== 0x65) items.push(next());
      i++;
      if (c === 'l') return items;
      const o: Record<string, Bencoded> = {};
      for (let k = 0; k < items.length; k += 2) o[items[k] as string] = items[k + 1]!;
      return o;
    }
    const colon = buf.indexOf(0x3a, i);
    const len = Number(buf.subarray(i, colon).toString());
    const s = buf.subarray(colon + 1, colon + 1 + len).toString();
    i = colon + 1 + len;
    return s;
  };
  return next();
}

export class NgClient {
  private readonly socket: Socket;
  private readonly pending = new Map<string, (reply: Record<string, Bencoded>) => void>();
  private seq = 0;
  private readonly port: number;

  constructor(port: number) {
    this.port = port;
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg) => {
      const space = msg.indexOf(0x20);
      const cookie = msg.subarray(0, space).toString();
      const reply = bdecode(msg.subarray(space + 1)) as Record<string, Bencoded>;
      this.pending.get(cookie)?.(reply);
      this.pending.delete(cookie);
    });
  }

  async request(command: Record<string, Bencoded>, timeoutMs = 3000): Promise<Record<string, Bencoded>> {
    const cookie = `c${process.pid}_${++this.seq}`;
    const reply = new Promise<Record<string, Bencoded>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cookie);
        reject(new Error(`rtpengine ng ${String(command.command)}: no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(cookie, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    this.socket.send(Buffer.concat([Buffer.from(`${cookie} `), bencode(command)]), this.port, '127.0.0.1');
    const r = await reply;
    if (r.result !== 'ok' && r.result !== 'pong') throw new Error(`rtpengine ng ${String(command.command)}: ${String(r.result)} ${String(r['error-reason'] ?? '')}`);
    return r;
  }

  close(): void {
    this.socket.close();
  }
}

const sdpFor = (port: number, session: string) =>
  ['v=0', `o=- ${session} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');

function sdpPort(sdp: string): number {
  const m = /^m=audio (\d+) /m.exec(sdp);
  if (!m) throw new Error(`no m=audio in rtpengine's SDP: ${sdp.slice(0, 200)}`);
  return Number(m[1]);
}

export interface Rtpengine {
  pid: number;
  version: string;
  ng: NgClient;
  /** Sets up one relayed call between generator ports a and b; returns where a and b must send. */
  relay(callId: string, a: number, b: number): Promise<{ toA: number; toB: number }>;
  remove(callId: string): Promise<void>;
  stop(): Promise<string>;
}

export async function startRtpengine(o: { ngPort: number; portMin: number; portMax: number; threads: number }): Promise<Rtpengine> {
  const args = [
    '--table=-1', // no kernel forwarding: userspace only
    '--interface=127.0.0.1',
    `--listen-ng=127.0.0.1:${o.ngPort}`,
    `--port-min=${o.portMin}`,
    `--port-max=${o.portMax}`,
    `--num-threads=${o.threads}`,
    '--foreground',
    '--log-stderr',
    '--log-level=4',
    '--no-fallback',
    '--delete-delay=0',
  ];
  // Another rtpengine on the control port would take this run's commands (and skew its figures): refuse.
  const probe = new NgClient(o.ngPort);
  const taken = await probe.request({ command: 'ping' }, 300).then(
    () => true,
    () => false,
  );
  probe.close();
  if (taken) throw new Error(`something already answers rtpengine ng pings on 127.0.0.1:${o.ngPort} (another rtpengine?)`);
  const child: ChildProcess = spawn('rtpengine', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(`rtpengine exited (${code ?? signal}): ${output.slice(-1500)}`)));
  child.on('error', (err) => (output += `\n${err.message}`));
  const ng = new NgClient(o.ngPort);
  // Wait for the control socket to answer a ping.
  let lastErr: unknown = null;
  for (let i = 0; i < 50; i++) {
    const gone = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
    if (gone) {
      ng.close();
      throw new Error(gone);
    }
    try {
      await ng.request({ command: 'ping' }, 200);
      lastErr = null;
      break;
    } catch (err) {
      lastErr = err;
    }
  }
  if (lastErr) {
    child.kill('SIGKILL');
    ng.close();
    throw new Error(`rtpengine did not answer ng ping: ${(lastErr as Error).message}; ${output.slice(-1000)}`);
  }
  let version = 'unknown';
  try {
    const { spawnSync } = await import('node:child_process');
    const v = spawnSync('rtpengine', ['--version'], { encoding: 'utf8' });
    version = /Version:?\s*(\S+)/i.exec(`${v.stdout}\n${v.stderr}`)?.[1] ?? 'unknown';
  } catch {
    // keep unknown
  }
  return {
    pid: child.pid!,
    version,
    ng,
    async relay(callId, a, b) {
      const offer = await ng.request({ command: 'offer', 'call-id': callId, 'from-tag': `${callId}-a`, sdp: sdpFor(a, '1'), ICE: 'remove', replace: ['origin'] });
      const answer = await ng.request({ command: 'answer', 'call-id': callId, 'from-tag': `${callId}-a`, 'to-tag': `${callId}-b`, sdp: sdpFor(b, '2'), ICE: 'remove', replace: ['origin'] });
      return { toB: sdpPort(String(offer.sdp)), toA: sdpPort(String(answer.sdp)) };
    },
    async remove(callId) {
      await ng.request({ command: 'delete', 'call-id': callId, 'from-tag': `${callId}-a` });
    },
    async stop() {
      ng.close();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const out = await exited;
      clearTimeout(timer);
      return out;
    },
  };
}

// Fuzzing Kefu's SIP port as an attacker would: thousands of random and mutated requests and responses
// (INVITE, REGISTER, OPTIONS, BYE, CANCEL, ACK, INFO, REFER; bad Via ports and hosts, NUL bytes, invalid
// UTF-8, huge and many headers, bad Content-Length, truncations, random bytes) over UDP and TCP against a
// Kefu child process, and in-dialog requests into calls Kefu answered. Afterwards the process is alive,
// its memory bounded, nothing was answered 500 or logged as an error, and a normal call still works.
// KEFU_FUZZ_SEED=<n> replays a run (KEFU_FUZZ_MESSAGES, KEFU_FUZZ_BUDGET_MS and KEFU_FUZZ_BOUND, the share
// of INVITEs to a bound number, change its size; KEFU_FUZZ_DEBUG=1 prints Kefu's last info lines).
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSipp, scenario, sipp } from '../calls/sipp.ts';
import { NUMBER, OFF_HOURS_NUMBER, setUpPhoneInstance } from '../calls/phone-setup.ts';
import { okHttp, spawnKefu, type KefuProcess } from '../support/process.ts';
import { freshPostgresSchema, wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';
import { fuzzSeed, seededRandom } from '../support/seeded-random.ts';

const SIP_PORT = 27060;
const operatorToken = 'sip-fuzz-operator-token-0123456789';
/** Bounded in count and time, whichever ends first. */
const MAX_MESSAGES = Number(process.env.KEFU_FUZZ_MESSAGES ?? 10_000);
const BUDGET_MS = Number(process.env.KEFU_FUZZ_BUDGET_MS ?? 10_000);
/** Messages sent between two round trips that prove Kefu still answers (and pace the sender to Kefu). */
const BATCH = 40;
/**
 * Growth of the Kefu process's resident memory the run may cause. Every answered request keeps a
 * transaction of about 3 KB for 32 s (memory.int.spec.ts, which checks the heap exactly), and V8 grows
 * its heap ahead of collection: 10,000 to 20,000 messages measured 85-115 MB. Keeping each request (up
 * to 64 KB, as before the fix) would be several hundred MB.
 */
const MAX_RSS_GROWTH_MB = 200;
/** Calls the fuzzer confirms with an ACK (the others time out without one). */
const MAX_CONFIRMED_CALLS = 15;
/** A number no flow is bound to: INVITEs to it go as far as the directory (404). */
const UNBOUND = '+869990001';


class Dice {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(256));
    return s;
  }
}

type Kind = 'INVITE' | 'INVITE_BOUND' | 'REGISTER' | 'OPTIONS' | 'BYE' | 'CANCEL' | 'ACK' | 'INFO' | 'REFER' | 'RESPONSE';
const kinds: Kind[] = ['INVITE', 'INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'CANCEL', 'ACK', 'INFO', 'REFER', 'RESPONSE'];

/** Text here is one char per byte (latin1), so that mutations can write any byte. */
const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

/** A valid message of `kind`, from `via` (host:port and transport of the fuzzer's socket). */
function validMessage(kind: Kind, n: number, via: { hostPort: string; transport: 'UDP' | 'TCP' }, d: Dice): string {
  const method = kind === 'INVITE_BOUND' ? 'INVITE' : kind === 'RESPONSE' ? 'INVITE' : kind;
  const number = kind === 'INVITE_BOUND' ? NUMBER : UNBOUND;
  const target = method === 'REGISTER' ? `sip:127.0.0.1:${SIP_PORT}` : `sip:${number}@127.0.0.1:${SIP_PORT}`;
  const toTag = ['BYE', 'INFO', 'REFER'].includes(kind) || (kind === 'ACK' && d.chance(0.5)) ? `;tag=${d.int(1e9)}` : '';
  const headers = [
    `Via: SIP/2.0/${via.transport} ${via.hostPort};branch=z9hG4bK-fuzz-${n};rport`,
    `From: ${d.pick(['"Customer"', utf8('"客户 José"'), '', 'Bob'])} <sip:${d.pick(['13800000001', '+8613800000002', 'anonymous', 'ada'])}@127.0.0.1>;tag=f${n}`,
    `To: <${method === 'REGISTER' ? `sip:agent0-fuzz@127.0.0.1` : target}>${toTag}`,
    `Call-ID: fuzz-${n}@127.0.0.1`,
    `CSeq: ${1 + d.int(5)} ${method}`,
    `Contact: <sip:fuzz@${via.hostPort}${via.transport === 'TCP' ? ';transport=tcp' : ''}>`,
    'Max-Forwards: 70',
    'User-Agent: kefu-fuzz',
  ];
  let body = '';
  switch (kind) {
    case 'INVITE':
    case 'INVITE_BOUND':
      headers.push('Content-Type: application/sdp');
      // Kefu's media only ever points at 127.0.0.1 (port 9, discard): INVITE_BOUND bodies are never mutated.
      body = ['v=0', 'o=fuzz 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 9 RTP/AVP 8 0 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ''].join('\r\n');
      break;
    case 'REGISTER':
      headers.push(`Expires: ${d.pick(['0', '60', '3600'])}`);
      if (d.chance(0.5)) headers.push(`Authorization: Digest username="agent0-fuzz", realm="kefu", nonce="${d.int(1e9)}", uri="sip:127.0.0.1", response="${'0'.repeat(32)}", algorithm=MD5`);
      break;
    case 'INFO':
      headers.push('Content-Type: application/dtmf-relay');
      body = `Signal=${d.pick(['1', '#', '*', 'x', ''])}\r\nDuration=160\r\n`;
      break;
    case 'REFER':
      headers.push(`Refer-To: <sip:${d.pick(['agent1', '13800000009', '%00', ''])}@127.0.0.1>`);
      break;
  }
  const start = kind === 'RESPONSE' ? `SIP/2.0 ${d.pick([100, 180, 200, 404, 487, 503])} ${d.pick(['OK', 'Ringing', 'Whatever'])}` : `${method} ${target} SIP/2.0`;
  return `${start}\r\n${headers.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
}

type Mutation = (message: string, d: Dice) => string;

const replaceHeader = (message: string, name: RegExp, value: (old: string) => string) => message.replace(name, (line) => value(line));
const headerLines = (message: string) => message.split('\r\n\r\n')[0]!.split('\r\n');
const withHeaderLines = (message: string, lines: string[]) => {
  const at = message.indexOf('\r\n\r\n');
  return lines.join('\r\n') + (at < 0 ? '' : message.slice(at));
};

/** A header line's index (never the start line), or -1 when the message has none left. */
const someHeader = (lines: string[], d: Dice) => (lines.length < 2 ? -1 : 1 + d.int(lines.length - 1));

const mutations: Record<string, Mutation> = {
  flipBytes: (m, d) => {
    const chars = m.split('');
    for (let i = 1 + d.int(4); i > 0; i--) chars[d.int(chars.length)] = String.fromCharCode(d.int(256));
    return chars.join('');
  },
  insertBytes: (m, d) => {
    const at = d.int(m.length);
    const junk = d.pick(['\0', '\xff', '\r', '\n', '\r\n', ':', ';', '<', '>', '"', '%', '\\', ',', ' ', '\t', d.bytes(1 + d.int(20))]);
    return m.slice(0, at) + junk + m.slice(at);
  },
  deleteRange: (m, d) => {
    const at = d.int(m.length);
    return m.slice(0, at) + m.slice(at + 1 + d.int(40));
  },
  truncate: (m, d) => m.slice(0, d.int(m.length)),
  viaPort: (m, d) =>
    replaceHeader(m, /^Via: .*$/m, (line) => line.replace(/:(\d+);/, `:${d.pick(['0', '65536', '70000', '99999999999999999999', '-1', 'abc', '', '5060:5060'])};`).replace(d.chance(0.7) ? ';rport' : '\0', '')),
  viaHost: (m, d) =>
    replaceHeader(m, /^Via: .*$/m, (line) =>
      line.replace(/ [^ ;]+;branch/, ` ${d.pick(['', 'a_b', '999.999.1.1', '[::1', '[::1]:5060', 'x'.repeat(300), '127.0.0.1\0', '%00', '-x-.example', 'exa mple', 'üñí.example'])};branch`),
    ),
  viaBranch: (m) => replaceHeader(m, /^Via: .*$/m, (line) => line.replace(/;branch=[^;]*/, '')),
  manyVias: (m, d) => replaceHeader(m, /^Via: .*$/m, (line) => Array.from({ length: 2 + d.int(60) }, () => line).join('\r\n')),
  contentLength: (m, d) => m.replace(/^Content-Length: .*$/m, `Content-Length: ${d.pick(['-1', '999999', 'abc', '1e3', '0x10', ' 5', '', '18446744073709551616', String(d.int(400))])}`),
  dropContentLength: (m) => m.replace(/^Content-Length: .*\r\n/m, ''),
  hugeHeader: (m, d) => withHeaderLines(m, [...headerLines(m), `X-Pad: ${'a'.repeat(1000 + d.int(30_000))}`]),
  manyHeaders: (m, d) => withHeaderLines(m, [...headerLines(m), ...Array.from({ length: 50 + d.int(200) }, (_, i) => `X-H${i}: ${i}`)]),
  nulInHeader: (m, d) => {
    const lines = headerLines(m);
    const i = someHeader(lines, d);
    if (i < 0) return m;
    const line = lines[i]!;
    const at = d.int(line.length);
    lines[i] = line.slice(0, at) + d.pick(['\0', '\x01', '\x7f', '\x1b[31m']) + line.slice(at);
    return withHeaderLines(m, lines);
  },
  badUtf8Name: (m, d) => replaceHeader(m, /^From: .*$/m, (line) => line.replace(/^From: [^<]*</, `From: "${d.pick(['\xed\xa0\x80', '\xc0\xaf', '\x80', '\xff\xfe', utf8('王'), utf8('\u{1F600}'), 'a'.repeat(500)])}" <`)),
  badUser: (m, d) => replaceHeader(m, /^From: .*$/m, (line) => line.replace(/<sip:[^@]*@/, `<sip:${d.pick(['%00', '%ED%A0%80', '%zz', '%', '1'.repeat(200), 'a%0Ab', utf8('号码')])}@`)),
  requestUri: (m, d) =>
    m.replace(/^([A-Z]+) \S+ SIP\/2\.0/, (_, method: string) => `${method} ${d.pick(['sip:', 'sip:%', 'sip:%E0%A4%A@127.0.0.1', 'sip:a@b:99999', 'tel:+1', '<>', `sip:${'9'.repeat(5000)}@x`, 'sips:+861012345678@127.0.0.1', 'sip:+86%0012@127.0.0.1', '*'])} SIP/2.0`),
  dropHeader: (m, d) => {
    const lines = headerLines(m);
    const i = someHeader(lines, d);
    if (i < 0) return m;
    lines.splice(i, 1);
    return withHeaderLines(m, lines);
  },
  duplicateHeader: (m, d) => {
    const lines = headerLines(m);
    const i = someHeader(lines, d);
    if (i < 0) return m;
    lines.splice(i, 0, lines[i]!);
    return withHeaderLines(m, lines);
  },
  method: (m, d) => m.replace(/^[A-Z]+ /, `${d.pick(['SUBSCRIBE', 'NOTIFY', 'PRACK', 'UPDATE', 'MESSAGE', 'PUBLISH', 'invite', 'X'.repeat(100), 'IN VITE', ''])} `),
  cseq: (m, d) => m.replace(/^CSeq: .*$/m, `CSeq: ${d.pick(['99999999999999999999 INVITE', '-1 INVITE', 'INVITE', '1', '1 ACK', '4294967296 OPTIONS', '1 CANCEL'])}`),
  maxForwards: (m, d) => m.replace(/^Max-Forwards: .*$/m, `Max-Forwards: ${d.pick(['0', '-1', 'abc', '99999999999', ''])}`),
  expires: (m, d) => withHeaderLines(m, [...headerLines(m), `Expires: ${d.pick(['-1', '99999999999999', 'abc', '4294967296'])}`]),
  compactForms: (m) => m.replace(/^Via:/m, 'v:').replace(/^From:/m, 'f:').replace(/^To:/m, 't:').replace(/^Call-ID:/m, 'i:').replace(/^Content-Length:/m, 'l:'),
  fold: (m, d) => {
    const lines = headerLines(m);
    const i = someHeader(lines, d);
    if (i < 0) return m;
    const line = lines[i]!;
    const at = line.indexOf(':') + 2 + d.int(4);
    lines[i] = `${line.slice(0, at)}\r\n ${line.slice(at)}`;
    return withHeaderLines(m, lines);
  },
  bareLf: (m) => m.replace(/\r\n/g, '\n'),
  contactJunk: (m, d) => m.replace(/^Contact: .*$/m, `Contact: ${d.pick(['*', '<sip:%zz@127.0.0.1>', '<>', '<sip:fuzz@127.0.0.1:70000>', '"x" <tel:+1>', 'sip:a@b;expires=-1', ''])}`),
  callId: (m, d) => m.replace(/^Call-ID: .*$/m, `Call-ID: ${d.pick(['', 'a b', 'x'.repeat(1000), '\0'])}`),
};
const mutationNames = Object.keys(mutations);
/** Mutations that leave an INVITE_BOUND's body alone (the SDP pointing at 127.0.0.1:9). */
const headOnly = mutationNames.filter((name) => !['flipBytes', 'insertBytes', 'deleteRange', 'truncate', 'bareLf'].includes(name));

function fuzzMessage(n: number, via: { hostPort: string; transport: 'UDP' | 'TCP' }, d: Dice): { bytes: Buffer; kind: string } {
  if (d.chance(0.04)) return { bytes: Buffer.from(d.bytes(d.int(1500)), 'latin1'), kind: 'random bytes' };
  const kind: Kind = d.chance(Number(process.env.KEFU_FUZZ_BOUND ?? 0.02)) ? 'INVITE_BOUND' : d.pick(kinds);
  let message = validMessage(kind, n, via, d);
  const names = kind === 'INVITE_BOUND' ? headOnly : mutationNames;
  for (let i = d.int(4); i > 0; i--) {
    const mutate = mutations[d.pick(names)]!;
    if (kind === 'INVITE_BOUND') {
      const at = message.indexOf('\r\n\r\n');
      message = mutate(message.slice(0, at + 4), d).replace(/(\r\n)*$/, '\r\n\r\n') + message.slice(at + 4);
    } else {
      message = mutate(message, d);
    }
  }
  // A UDP datagram holds at most 65507 bytes.
  return { bytes: Buffer.from(message, 'latin1').subarray(0, 65_000), kind };
}

/** A dialog Kefu opened by answering one of the fuzzer's INVITE_BOUND calls over UDP (learnt from its 200 OK). */
interface KnownDialog {
  callId: string;
  from: string;
  to: string;
  inviteCseq: number;
  cseq: number;
}

/** A dialog that answers the 200 OK: the call is confirmed, and a re-INVITE or INFO reaches the call's handlers. */
function ackFor(dialog: KnownDialog, via: string, n: number): string {
  return [
    `ACK sip:${NUMBER}@127.0.0.1:${SIP_PORT} SIP/2.0`,
    `Via: SIP/2.0/UDP ${via};branch=z9hG4bK-ack-${n};rport`,
    dialog.from,
    dialog.to,
    `Call-ID: ${dialog.callId}`,
    `CSeq: ${dialog.inviteCseq} ACK`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** An in-dialog request for a call Kefu answered, head-mutated like the others (bodies stay, so media stays on 127.0.0.1). */
function inDialogMessage(dialog: KnownDialog, n: number, via: string, d: Dice): { message: string; method: string } {
  const method = d.pick(['BYE', 'INFO', 'INFO', 'INFO', 'INVITE', 'INVITE', 'REFER', 'OPTIONS', 'ACK', 'UPDATE', 'CANCEL', 'PRACK']);
  dialog.cseq += d.chance(0.1) ? -1 : 1;
  const headers = [
    `Via: SIP/2.0/UDP ${via};branch=z9hG4bK-dialog-${n};rport`,
    dialog.from,
    dialog.to,
    `Call-ID: ${dialog.callId}`,
    `CSeq: ${method === 'ACK' ? dialog.inviteCseq : dialog.cseq} ${method}`,
    `Contact: <sip:fuzz@${via}>`,
    'Max-Forwards: 70',
  ];
  let body = '';
  if (method === 'INFO') {
    const dtmf = d.chance(0.5);
    headers.push(`Content-Type: ${dtmf ? 'application/dtmf-relay' : d.pick(['application/dtmf', 'text/plain', 'application/sdp'])}`);
    body = dtmf ? `Signal=${d.pick(['1', '#', '*', 'A', 'x', '', '1'.repeat(200), '\0'])}\r\nDuration=${d.pick(['160', '-1', 'abc', '99999999999'])}\r\n` : d.pick(['5', '', 'Signal=', d.bytes(d.int(200))]);
  } else if (method === 'INVITE') {
    headers.push('Content-Type: application/sdp');
    body = ['v=0', 'o=fuzz 1 2 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio 9 RTP/AVP ${d.pick(['8 0 101', '0', '18', '8'])}`, d.pick(['a=sendonly', 'a=inactive', 'a=sendrecv', '']), ''].join('\r\n');
  } else if (method === 'REFER') {
    headers.push(`Refer-To: ${d.pick(['<sip:agent1@127.0.0.1>', '<sip:13800000009@127.0.0.1?Replaces=abc%3Bto-tag%3D1>', '<>', 'garbage', '<sip:%00@127.0.0.1>', '<tel:+1>'])}`);
  }
  let message = `${method} sip:fuzz@127.0.0.1:${SIP_PORT} SIP/2.0\r\n${headers.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n`;
  for (let i = d.int(3); i > 0; i--) message = mutations[d.pick(headOnly)]!(message, d).replace(/(\r\n)*$/, '\r\n\r\n');
  return { message: message + body, method };
}

function rssMb(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line ? Number(line[1]) / 1024 : NaN;
}

describe('SIP fuzzing', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('survives random and mutated SIP over UDP and TCP, then still takes a normal call', { timeout: 120_000 }, async () => {
    requireSipp();
    const seed = fuzzSeed();
    console.log(`SIP fuzz seed ${seed} (replay with KEFU_FUZZ_SEED=${seed})`);
    const d = new Dice(seed);

    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-sip-fuzz-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env: Record<string, string> = {
      KEFU_DATA_DIR: dir,
      KEFU_OPERATOR_TOKEN: operatorToken,
      KEFU_SIP: 'on',
      KEFU_SIP_PORT: String(SIP_PORT),
      KEFU_SIP_BIND: '127.0.0.1',
      KEFU_RTP_PORT_MIN: '33000',
      KEFU_RTP_PORT_MAX: '33999',
      // A leak past this ends the process, which the test sees.
      NODE_OPTIONS: '--max-old-space-size=512',
    };
    if (await wantPostgres()) {
      const schema = await freshPostgresSchema();
      await schema.client.close();
      cleanups.push(schema.drop);
      env.DATABASE_URL = schema.url;
    }
    const kefu: KefuProcess = await spawnKefu(env);
    cleanups.push(() => kefu.stop());
    const ok = <T,>(token: string | null, query: string, variables?: Record<string, unknown>) => okHttp<T>(kefu.url, token, query, variables);
    const s = await setUpPhoneInstance(ok, operatorToken, { agents: ['Ann'], tag: 'fuzz' });
    const pid = kefu.child.pid!;

    // Replies to the fuzzer: every status Kefu answered with.
    const statuses = new Map<number, number>();
    const countStatuses = (text: string) => {
      for (const m of text.matchAll(/^SIP\/2\.0 (\d{3}) /gm)) statuses.set(Number(m[1]), (statuses.get(Number(m[1])) ?? 0) + 1);
    };
    // Dialogs of answered calls, and a dice of their own: replies depend on timing and Kefu's random tags,
    // and must not shift the main sequence, which a seed replays exactly.
    const dialogs: KnownDialog[] = [];
    const dialogDice = new Dice(seed ^ 0x5bd1e995);
    const toAck: KnownDialog[] = [];
    let acked = 0;
    const learnDialog = (text: string) => {
      if (!/^SIP\/2\.0 200 /.test(text)) return;
      const cseq = /^CSeq: (\d+) INVITE$/m.exec(text);
      const callId = /^Call-ID: (fuzz-\d+@127\.0\.0\.1)$/m.exec(text);
      const to = /^To: .*;tag=.*$/m.exec(text);
      const from = /^From: .*$/m.exec(text);
      if (!cseq || !callId || !to || !from || dialogs.some((k) => k.callId === callId[1])) return;
      const dialog = { callId: callId[1]!, from: from[0], to: to[0], inviteCseq: Number(cseq[1]), cseq: Number(cseq[1]) };
      dialogs.push(dialog);
      if (dialogs.length > 40) dialogs.shift();
      // Confirmed calls run the IVR (speech, RTP to port 9): a few are enough, and keep the machine free.
      if (acked < MAX_CONFIRMED_CALLS && dialogDice.chance(0.5)) {
        acked++;
        toAck.push(dialog);
      }
    };
    const udp = createSocket('udp4');
    udp.on('message', (m) => {
      const text = m.toString('latin1');
      countStatuses(text);
      learnDialog(text);
    });
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => void udp.close());
    const udpVia = { hostPort: `127.0.0.1:${udp.address().port}`, transport: 'UDP' as const };

    // Round trips that prove Kefu answers: an OPTIONS from a socket of its own.
    const probe = createSocket('udp4');
    let probeReplies = 0;
    probe.on('message', (m) => {
      if (m.toString('latin1').startsWith('SIP/2.0 200 OK')) probeReplies++;
    });
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => void probe.close());
    let pings = 0;
    const stillAnswers = async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const before = probeReplies;
        const n = ++pings;
        const options = [
          `OPTIONS sip:kefu@127.0.0.1:${SIP_PORT} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${probe.address().port};branch=z9hG4bK-ping-${n};rport`,
          'From: <sip:ping@127.0.0.1>;tag=ping',
          'To: <sip:kefu@127.0.0.1>',
          `Call-ID: ping-${n}`,
          'CSeq: 1 OPTIONS',
          'Max-Forwards: 70',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n');
        probe.send(options, SIP_PORT, '127.0.0.1');
        const deadline = Date.now() + 3000;
        while (probeReplies === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
        // The kernel may drop a datagram behind a burst; another ping gets through.
        if (probeReplies > before) return;
      }
      throw new Error(`Kefu stopped answering OPTIONS (seed ${seed}; exit code ${kefu.child.exitCode}):\n${kefu.output().slice(-3000)}`);
    };

    // One TCP connection at a time; Kefu closes it when the framing breaks, and the fuzzer opens another.
    let tcp: net.Socket | null = null;
    let tcpConnections = 0;
    const tcpStream = async (): Promise<net.Socket> => {
      if (tcp && !tcp.destroyed && tcp.writable) return tcp;
      const socket = net.connect(SIP_PORT, '127.0.0.1');
      socket.on('data', (chunk: Buffer) => countStatuses(chunk.toString('latin1')));
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      tcpConnections++;
      tcp = socket;
      return socket;
    };
    cleanups.push(() => {
      tcp?.destroy();
    });

    await stillAnswers();
    const rssBefore = rssMb(pid);
    const kinds = new Map<string, number>();
    let sent = 0;
    let sentTcp = 0;
    const started = Date.now();
    while (sent < MAX_MESSAGES && Date.now() - started < BUDGET_MS) {
      for (const dialog of toAck.splice(0)) udp.send(ackFor(dialog, udpVia.hostPort, sent), SIP_PORT, '127.0.0.1');
      for (let i = 0; i < BATCH; i++) {
        // Into a call Kefu answered: its dialog's handlers (BYE, INFO DTMF, re-INVITE, REFER).
        if (d.chance(0.1) && dialogs.length > 0) {
          const { message, method } = inDialogMessage(dialogDice.pick(dialogs), sent, udpVia.hostPort, dialogDice);
          kinds.set(`in-dialog ${method}`, (kinds.get(`in-dialog ${method}`) ?? 0) + 1);
          udp.send(Buffer.from(message, 'latin1'), SIP_PORT, '127.0.0.1');
          sent++;
          continue;
        }
        const overTcp = d.chance(0.3);
        let socket: net.Socket | null = null;
        if (overTcp) socket = await tcpStream();
        const via = socket ? { hostPort: `127.0.0.1:${socket.localPort}`, transport: 'TCP' as const } : udpVia;
        const { bytes, kind } = fuzzMessage(sent, via, d);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        if (socket) {
          // Sometimes in pieces, as a stream may deliver it.
          const cut = d.chance(0.2) ? d.int(bytes.length) : bytes.length;
          socket.write(bytes.subarray(0, cut));
          if (cut < bytes.length) socket.write(bytes.subarray(cut));
          sentTcp++;
        } else {
          udp.send(bytes, SIP_PORT, '127.0.0.1');
        }
        sent++;
      }
      await stillAnswers();
      expect(kefu.child.exitCode, kefu.output().slice(-3000)).toBeNull();
    }
    const seconds = (Date.now() - started) / 1000;
    // Hang up the calls still up, so that their IVRs do not slow the normal call below.
    for (const [i, dialog] of dialogs.entries()) {
      const bye = [`BYE sip:fuzz@127.0.0.1:${SIP_PORT} SIP/2.0`, `Via: SIP/2.0/UDP ${udpVia.hostPort};branch=z9hG4bK-bye-${i};rport`, dialog.from, dialog.to, `Call-ID: ${dialog.callId}`, `CSeq: ${dialog.cseq + 100} BYE`, 'Max-Forwards: 70', 'Content-Length: 0', '', ''];
      udp.send(bye.join('\r\n'), SIP_PORT, '127.0.0.1');
    }
    const rssAfter = rssMb(pid);
    console.log(
      `SIP fuzz: ${sent} messages (${sentTcp} over TCP on ${tcpConnections} connections) in ${seconds.toFixed(1)} s = ${Math.round(sent / seconds)} messages/s; ` +
        `Kefu RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MB; answers ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; kinds ${JSON.stringify(Object.fromEntries(kinds))}`,
    );

    expect(kefu.child.exitCode, kefu.output().slice(-3000)).toBeNull();
    expect(kefu.child.signalCode).toBeNull();
    expect(statuses.get(500) ?? 0, `500 answers (seed ${seed})`).toBe(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
    expect(rssAfter - rssBefore, 'RSS growth in MB').toBeLessThan(MAX_RSS_GROWTH_MB);
    // Bad input is answered and logged at debug; an error (level 50) or fatal (60) line means a handler failed.
    const errorLines = kefu
      .output()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    expect(errorLines.slice(0, 5), `error log lines (seed ${seed})`).toEqual([]);
    if (process.env.KEFU_FUZZ_DEBUG) console.log(kefu.output().split('\n').filter((l) => /"level":(30|40)/.test(l)).slice(-60).join('\n'));

    // A normal call: the caller hears the off-hours prompt and Kefu hangs up, with its call record.
    const caller = '13800000042';
    const call = await sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 20_000 } }] }),
      target: `127.0.0.1:${SIP_PORT}`,
      service: OFF_HOURS_NUMBER,
      localPort: 27110,
      mediaPort: 27114,
    }).done;
    expect(call.code, call.output).toBe(0);
    const record = await until(
      async () =>
        (await ok<{ callRecords: { edges: { node: { endStatus: string | null; endedBy: string | null } }[] } }>(s.adminKey, 'query($n: String!) { callRecords(first: 1, filter: { number: $n }) { edges { node { endStatus endedBy } } } }', { n: caller }))
          .callRecords.edges[0]?.node ?? null,
      (r) => r?.endStatus != null,
      20_000,
    );
    expect(record).toMatchObject({ endStatus: 'afterHours', endedBy: 'SYSTEM' });
    await stillAnswers();
    expect(kefu.child.exitCode).toBeNull();
  });
});

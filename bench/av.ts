// AV bench (issue 14): concurrent customer video calls relayed and recorded by one Kefu, and the same packet
// load through a bare UDP forwarder as the ceiling, in the same run. Kefu (bench/av/server-child.ts) runs on a
// fresh PostgreSQL database (`kefu_bench_av`) in a process of its own; the stand-in browsers
// (bench/av/peers-child.ts) in BENCH_AV_PEER_PROCS other processes, a shard of the calls each, so that Kefu's
// CPU is measured alone (from /proc: all its threads). Each call: a customer (werift, DTLS-SRTP) starts it with
// startAvCall; an agent of the shard's AV group, offered it on agentOffers, takes it with acceptAvCall; each
// sends VP8 (~500 kbit/s) and Opus (bench/av/media.ts: encoded once by ffmpeg, replayed) in real time; Kefu
// relays without decoding and records one WebM per participant.
//
// Per step of N calls: the calls start at BENCH_AV_SETUP_RATE a second; the time from each startAvCall to the
// first video packet at the agent; calls without video both ways after BENCH_AV_SETUP_TIMEOUT_S fail. Then all
// media pauses (2 s, so nothing is in flight), every side's counts are reset and all send for BENCH_AV_SECONDS;
// then a pause again (2 s for late packets and resends) and the counts: loss per direction = 1 - distinct
// packets received / sent. Kefu's CPU over the window per call. The customers end their calls; every
// participant's recording must become READY, and one is read by ffprobe. The bare forwarder gets the same
// calls (plain RTP over UDP, the same bytes without SRTP) and the same window.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { avRecordingPath } from '../src/adapters/storage/recording-storage.ts';
import { ask as askChild, forkChild, stop } from './chat.ts';
import { envInt, envList } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import { startServerChild, stopServerChild, type ServerChild } from './lib/server-child.ts';
import { percentile } from './lib/stats.ts';
import { benchAvOrigin, loadClips, makeMediaFiles, type MediaKind } from './av/media.ts';
import { cpuMs } from './phone/cpu.ts';
import { failureCauses } from './av/failures.ts';

const database = 'kefu_bench_av';
const operatorToken = 'bench-operator-token-av-0123456789';
const targetCalls = 50;
const targetLoss = 0.01;
type Target = 'kefu' | 'bare';

const settings = () => {
  const calls = (envList('BENCH_AV_CALLS') ?? ['5', '10', '20', '35', '50']).map(Number);
  if (calls.some((n) => !Number.isInteger(n) || n < 1 || n > 500)) throw new Error('BENCH_AV_CALLS must be whole numbers from 1 to 500 (one step each)');
  const targets = (envList('BENCH_AV_TARGETS') ?? ['kefu', 'bare']) as Target[];
  const unknown = targets.filter((t) => t !== 'kefu' && t !== 'bare');
  if (unknown.length > 0) throw new Error(`BENCH_AV_TARGETS: unknown ${unknown.join(', ')} (known: kefu, bare)`);
  const seconds = envInt('BENCH_AV_SECONDS', 20);
  // A stream's packets in the window are told apart by sequence number: at most 65,536 (video ~71/s).
  if (seconds < 2 || seconds > 600) throw new Error('BENCH_AV_SECONDS must be 2 to 600');
  return {
    calls,
    targets,
    seconds,
    peerProcs: Math.max(1, envInt('BENCH_AV_PEER_PROCS', 2)),
    setupRate: Math.max(1, envInt('BENCH_AV_SETUP_RATE', 5)),
    setupTimeoutS: Math.max(10, envInt('BENCH_AV_SETUP_TIMEOUT_S', 120)),
    recording: process.env.BENCH_AV_RECORDING !== 'off',
  };
};

type Direction = Record<MediaKind, { sent: number; unique: number; total: number; worst: number }>;
interface Counts {
  calls: number;
  toAgent: Direction;
  toCustomer: Direction;
  cpuMs: number;
  loopMaxMs: number;
  failures: string[];
  /** Calls up after set-up whose connection went down, or whose media stopped, before or in the window (not in the loss). */
  dropped: { contactId: string | null; why: string }[];
  kefuPorts: { port: number; who: string }[];
}
interface SetupCall {
  index: number;
  contactId: string | null;
  error: string | null;
  firstVideoMs: number | null;
}

interface Step {
  target: Target;
  calls: number;
  up: number;
  failed: string[];
  lossToAgent: number;
  lossToCustomer: number;
  /** The worst single stream (one call, one direction, one kind). */
  worstStream: number;
  resent: number;
  windowS: number;
  cpuPct: number;
  /** The server's CPU in the window by thread kind (Kefu: main, media, recording, V8 helpers, other). */
  threads: string;
  cpuMsPerCallSecond: number;
  /** Server CPU per packet delivered (a starved server that drops packets also does less work per call). */
  cpuUsPerPacket: number;
  /** The same, of the server's main thread only (its event loop: signalling, and whatever media is not on worker threads). */
  mainCpuUsPerPacket: number;
  peersCpuPct: number;
  rssMb: number | null;
  firstVideo: number[];
  recordings: { ready: number; expected: number; probe: string } | null;
  loadBefore: number;
  notes: string[];
  /** Loss per direction and kind, for the log. */
  perKind: string;
  /** UDP datagrams the kernel dropped for full receive buffers in the window: machine-wide, at the server's sockets, at the peers'. */
  udpDrops: number;
  serverDrops: number;
  peerDrops: number;
  /** The server's event loop in the window (Kefu only): longest delay and p99, ms; the peers' longest. */
  loop: { maxMs: number; p99Ms: number } | null;
  peersLoopMaxMs: number;
  /** Kefu's RSS (MB) before the step and after its calls ended. */
  rssAround: { before: number | null; after: number | null } | null;
}

/**
 * A request to a child, refused if the child exits or does not answer in `ms` (a crashed or wedged Kefu or
 * stand-in fails the run with a reason instead of hanging it). Setup waits as long as its own time-out allows.
 */
function ask<T>(child: ChildProcess, message: { type: string; [key: string]: unknown }, reply: string, ms = 180_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onExit: ((code: number | null) => void) | undefined;
  return Promise.race([
    askChild<T>(child, message, reply),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${reply} from child ${child.pid} in ${ms / 1000} s (asked ${message.type})`)), ms);
      onExit = (code) => reject(new Error(`child ${child.pid} exited (${code}) while asked ${message.type}`));
      child.once('exit', onExit);
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onExit) child.off('exit', onExit);
  });
}

/** CPU ms of a process's main thread (its task with the process's id), from /proc. */
function mainThreadCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU ms of each of a process's threads by kind (main, AV media workers, recording workers, V8's GC helpers, other), from /proc. */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const kind = tid === String(pid) ? 'main' : name.startsWith('kefu-av-media') ? 'media' : name.startsWith('kefu-av-record') ? 'recording' : name.startsWith('V8Worker') ? 'V8 helpers (GC, compiler)' : 'other';
      out.set(kind, (out.get(kind) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

const split = (total: number, parts: number) => Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`  ${m}\n`);
const pct = (v: number) => (Number.isNaN(v) ? '-' : `${(100 * v).toFixed(2)} %`);
const f1 = (v: number) => v.toFixed(1);

/** NaN when nothing was sent (no call stayed up): no loss figure. */
function lossOf(d: Direction): number {
  const sent = d.audio.sent + d.video.sent;
  return sent === 0 ? NaN : 1 - (d.audio.unique + d.video.unique) / sent;
}
function addDirection(a: Direction, b: Direction): Direction {
  const k = (x: MediaKind) => ({ sent: a[x].sent + b[x].sent, unique: a[x].unique + b[x].unique, total: a[x].total + b[x].total, worst: Math.max(a[x].worst, b[x].worst) });
  return { audio: k('audio'), video: k('video') };
}
const emptyDirection = (): Direction => ({ audio: { sent: 0, unique: 0, total: 0, worst: 0 }, video: { sent: 0, unique: 0, total: 0, worst: 0 } });

/** The kernel's UDP receive-buffer drops, machine-wide (/proc/net/snmp RcvbufErrors): what a starved reader lost. */
function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

/** Per local UDP port `pid` holds: datagrams dropped (full receive buffer) and bytes waiting to be read, from /proc/net/udp. */
function udpSockets(pid: number): Map<number, { drops: number; queued: number }> {
  const out = new Map<number, { drops: number; queued: number }>();
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return out;
  }
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 13 && inodes.has(f[9]!)) out.set(parseInt(f[1]!.split(':')[1]!, 16), { drops: Number(f[12]), queued: parseInt(f[4]!.split(':')[1]!, 16) });
    }
  }
  return out;
}

/** Datagrams dropped (full receive buffer) at the UDP sockets `pid` holds. */
function socketDrops(pid: number): number {
  let drops = 0;
  for (const s of udpSockets(pid).values()) drops += s.drops;
  return drops;
}

function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function peers(n: number, mediaDir: string): Promise<ChildProcess[]> {
  return Promise.all(Array.from({ length: n }, async () => (await forkChild('./av/peers-child.ts', { BENCH_AV_MEDIA_DIR: mediaDir })).child));
}

/** The window: quiet, counts reset, all send for `seconds`, quiet, late packets; CPU of the server (Kefu or the forwarder) over it. */
async function measure(children: ChildProcess[], server: ChildProcess, seconds: number, kefu: boolean) {
  const serverPid = server.pid!;
  await Promise.all(children.map((c) => ask(c, { type: 'quiet' }, 'quiet-ok')));
  await sleep(2000);
  if (kefu) await ask(server, { type: 'loop-start' }, 'loop-started');
  const server0 = cpuMs(serverPid);
  const main0 = mainThreadCpuMs(serverPid);
  const threads0 = threadCpuMs(serverPid);
  const drops0 = udpRcvbufErrors();
  const serverDrops0 = socketDrops(serverPid);
  const serverSockets0 = udpSockets(serverPid);
  const peerDrops0 = children.reduce((n, c) => n + socketDrops(c.pid!), 0);
  const started = performance.now();
  await Promise.all(children.map((c) => ask(c, { type: 'window-start' }, 'window-started')));
  await sleep(seconds * 1000);
  await Promise.all(children.map((c) => ask(c, { type: 'window-stop' }, 'window-stopped')));
  const wall = performance.now() - started;
  const serverMs = cpuMs(serverPid) - server0;
  const mainMs = mainThreadCpuMs(serverPid) - main0;
  // Where the server's CPU went, by thread kind, in % of one CPU over the window (threads that ended are not counted).
  const wallMs = performance.now() - started;
  const threadsPct = [...threadCpuMs(serverPid)].map(([kind, ms]) => `${kind} ${((100 * (ms - (threads0.get(kind) ?? 0))) / wallMs).toFixed(0)} %`).join(', ');
  const rss = rssMb(serverPid);
  await sleep(2000);
  const udpDrops = udpRcvbufErrors() - drops0;
  const serverDrops = socketDrops(serverPid) - serverDrops0;
  // Where the server dropped: a socket nobody reads (its queue full) is not a busy server.
  const serverSockets = [...udpSockets(serverPid)].map(([port, x]) => ({ port, drops: x.drops - (serverSockets0.get(port)?.drops ?? 0), queued: x.queued })).filter((x) => x.drops > 0);
  const peerDrops = children.reduce((n, c) => n + socketDrops(c.pid!), 0) - peerDrops0;
  const loop = kefu ? await ask<{ maxMs: number; p99Ms: number }>(server, { type: 'loop' }, 'loop') : null;
  const counts = await Promise.all(children.map((c) => ask<Counts>(c, { type: 'counts' }, 'counts')));
  return { wall, serverMs, mainMs, threadsPct, rss, counts, udpDrops, serverDrops, serverSockets, peerDrops, loop };
}

function stepOf(target: Target, calls: number, m: Awaited<ReturnType<typeof measure>>, loadBefore: number, failed: string[], firstVideo: number[]): Step {
  const up = m.counts.reduce((n, c) => n + c.calls, 0);
  const toAgent = m.counts.reduce((d, c) => addDirection(d, c.toAgent), emptyDirection());
  const toCustomer = m.counts.reduce((d, c) => addDirection(d, c.toCustomer), emptyDirection());
  const all = [toAgent, toCustomer];
  return {
    target,
    calls,
    up,
    failed,
    lossToAgent: lossOf(toAgent),
    lossToCustomer: lossOf(toCustomer),
    worstStream: Math.max(...all.flatMap((d) => [d.audio.worst, d.video.worst])),
    resent: all.reduce((n, d) => n + d.audio.total - d.audio.unique + d.video.total - d.video.unique, 0),
    windowS: m.wall / 1000,
    cpuPct: (100 * m.serverMs) / m.wall,
    cpuMsPerCallSecond: m.serverMs / Math.max(1, up) / (m.wall / 1000),
    cpuUsPerPacket: (1000 * m.serverMs) / Math.max(1, all.reduce((n, d) => n + d.audio.unique + d.video.unique, 0)),
    mainCpuUsPerPacket: (1000 * m.mainMs) / Math.max(1, all.reduce((n, d) => n + d.audio.unique + d.video.unique, 0)),
    peersCpuPct: (100 * m.counts.reduce((n, c) => n + c.cpuMs, 0)) / m.wall,
    rssMb: m.rss,
    threads: m.threadsPct,
    firstVideo,
    recordings: null,
    loadBefore,
    notes: m.counts.flatMap((c) => c.failures).slice(0, 3),
    rssAround: null,
    udpDrops: m.udpDrops,
    serverDrops: m.serverDrops,
    peerDrops: m.peerDrops,
    loop: m.loop,
    peersLoopMaxMs: Math.max(0, ...m.counts.map((c) => c.loopMaxMs)),
    perKind: (['audio', 'video'] as const).map((k) => `${k} ${pct(toAgent[k].sent ? 1 - toAgent[k].unique / toAgent[k].sent : NaN)} / ${pct(toCustomer[k].sent ? 1 - toCustomer[k].unique / toCustomer[k].sent : NaN)}`).join(', '),
  };
}

async function bareStep(calls: number, s: ReturnType<typeof settings>, mediaDir: string): Promise<Step> {
  const loadBefore = loadavg()[0]!;
  const relay = (await forkChild('./av/udp-relay-child.ts', {})).child;
  const children = await peers(Math.min(s.peerProcs, calls), mediaDir);
  try {
    const shares = split(calls, children.length);
    const ports = await Promise.all(children.map((c, i) => ask<{ ports: { customer: number; agent: number }[] }>(c, { type: 'bare-setup', calls: shares[i] }, 'bare-ports')));
    const opened = await ask<{ ports: { customer: number; agent: number }[] }>(relay, { type: 'open', calls: ports.flatMap((p) => p.ports) }, 'opened');
    let at = 0;
    await Promise.all(
      children.map((c, i) => {
        const mine = opened.ports.slice(at, at + shares[i]!);
        at += shares[i]!;
        return ask(c, { type: 'bare-connect', ports: mine }, 'bare-connected');
      }),
    );
    const m = await measure(children, relay, s.seconds, false);
    return stepOf('bare', calls, m, loadBefore, m.counts.flatMap((c) => c.dropped.map((d) => d.why)), []);
  } finally {
    await Promise.all(children.map((c) => stop(c)));
    await stop(relay);
  }
}

interface Seeded {
  instanceId: string;
  adminKey: string;
  channelKey: string;
  shards: { groupId: string; tokens: string[] }[];
}

async function gql<T>(port: number, token: string | null, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: benchAvOrigin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length) throw new Error(`${query.slice(0, 50)}: ${JSON.stringify(body.errors).slice(0, 400)}`);
  return body.data as T;
}

/** How Kefu has the call's contact: ' (contact ENDED customerDisconnected by SYSTEM)', or '' if it cannot tell. */
async function endOf(port: number, adminKey: string, contactId: string): Promise<string> {
  const seen = await gql<{ contact: { status: string; endReason: string | null; endedBy: string | null } }>(port, adminKey, 'query($id: ID!) { contact(id: $id) { status endReason endedBy } }', { id: contactId }).catch(() => null);
  return seen ? ` (contact ${seen.contact.status}${seen.contact.endReason ? ` ${seen.contact.endReason} by ${seen.contact.endedBy}` : ''})` : '';
}

/** An instance, per shard an AV skill group with its agents (enough for the largest step), one web channel. */
async function seed(port: number, agentsPerShard: number, shards: number): Promise<Seeded> {
  const created = await gql<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(port, operatorToken, 'mutation { createInstance(input: { name: "AV bench" }) { instance { id } adminApiKey } }');
  const instanceId = created.createInstance.instance.id;
  const admin = created.createInstance.adminApiKey;
  await gql(port, operatorToken, 'mutation($id: ID!, $n: Int!) { purchaseSeats(input: { instanceId: $id, seats: $n }) { seats } }', { id: instanceId, n: agentsPerShard * shards + 5 });
  const group = async (name: string, channel: string) =>
    (await gql<{ createSkillGroup: { id: string } }>(port, admin, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name, channel, ringTimeoutSeconds: 120, wrapUpSeconds: 0 } })).createSkillGroup.id;
  const chatGroup = await group('Chat', 'ONLINE');
  const channelKey = (
    await gql<{ createWebChannel: { webChannel: { publicKey: string } } }>(port, admin, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
      input: { name: 'Shop', allowedOrigins: [benchAvOrigin], skillGroupId: chatGroup },
    })
  ).createWebChannel.webChannel.publicKey;
  const out: Seeded['shards'] = [];
  for (let sh = 0; sh < shards; sh++) {
    const groupId = await group(`Video ${sh}`, 'AV');
    const tokens: string[] = [];
    for (let a = 0; a < agentsPerShard; a++) {
      const login = `av.${sh}.${a}`;
      const agentId = (await gql<{ createAgent: { id: string } }>(port, admin, 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', { input: { name: login, login, password: 'password-123' } })).createAgent.id;
      await gql(port, admin, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: agentId });
      tokens.push((await gql<{ loginAgent: { token: string } }>(port, null, 'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }', { input: { instanceId, login, password: 'password-123' } })).loginAgent.token);
    }
    out.push({ groupId, tokens });
  }
  return { instanceId, adminKey: admin, channelKey, shards: out };
}

/** Every participant's recording READY (polled), and ffprobe's view of one customer's WebM. */
async function checkRecordings(url: string, dataDir: string, instanceId: string, contactIds: string[], s: ReturnType<typeof settings>): Promise<Step['recordings']> {
  const expected = contactIds.length * 2;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const deadline = performance.now() + 120_000;
    let rows: { id: string; contact_id: string; agent_id: string | null; status: string }[] = [];
    for (;;) {
      rows = (await c.query<(typeof rows)[number]>('SELECT id, contact_id, agent_id, status FROM call_recordings WHERE instance_id = $1 AND contact_id = ANY($2)', [instanceId, contactIds])).rows;
      if ((rows.length >= expected && rows.every((r) => r.status !== 'RECORDING')) || performance.now() > deadline) break;
      await sleep(500);
    }
    const ready = rows.filter((r) => r.status === 'READY');
    const one = ready.find((r) => r.agent_id === null);
    let probe = 'none READY';
    if (one) {
      try {
        const file = avRecordingPath(path.join(dataDir, 'recordings'), instanceId, one.id);
        const run = spawnSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { encoding: 'utf8' });
        if (run.status !== 0) throw new Error(run.stderr);
        const p = JSON.parse(run.stdout) as {
          streams: { codec_type: string; codec_name: string }[];
          format: { format_name: string; duration?: string; size?: string };
        };
        const warnings = run.stderr.trim().split('\n').filter((l) => l !== '');
        probe = `${p.format.format_name.split(',')[0]}: ${p.streams.map((x) => `${x.codec_type} ${x.codec_name}`).join(', ')}; ${Number(p.format.duration ?? 0).toFixed(1)} s, ${(Number(p.format.size ?? 0) / 1e6).toFixed(1)} MB${warnings.length ? `; ffprobe warns: ${warnings[0]!.replace(/^\[[^\]]*\] /, '').slice(0, 120)}` : ''}`;
      } catch (err) {
        probe = `ffprobe failed: ${(err as Error).message.slice(0, 200)}`;
      }
    }
    if (!s.recording) probe = 'recording off';
    return { ready: ready.length, expected, probe };
  } finally {
    await c.end();
  }
}

async function kefuStep(calls: number, s: ReturnType<typeof settings>, mediaDir: string, server: ServerChild, seeded: Seeded, url: string, dataDir: string, firstIndex: number): Promise<Step> {
  const loadBefore = loadavg()[0]!;
  const rssBefore = rssMb(server.child.pid!);
  const children = await peers(Math.min(s.peerProcs, seeded.shards.length), mediaDir);
  try {
    await Promise.all(children.map((c, i) => ask(c, { type: 'agents', port: server.port, tokens: seeded.shards[i]!.tokens }, 'agents-ok')));
    const shares = split(calls, children.length);
    const intervalMs = (1000 * children.length) / s.setupRate;
    const t0 = performance.now();
    const setups = await Promise.all(
      children.map((c, i) =>
        ask<{ calls: SetupCall[] }>(c, { type: 'setup', channelKey: seeded.channelKey, groupId: seeded.shards[i]!.groupId, calls: shares[i], firstIndex: firstIndex + i * 1000, intervalMs, timeoutMs: s.setupTimeoutS * 1000 }, 'setup-done', (s.setupTimeoutS + 60 + calls / s.setupRate) * 1000),
      ),
    );
    const all = setups.flatMap((x) => x.calls);
    // Where a failed call's contact went (ended by whom and why), from Kefu.
    const failed = await Promise.all(
      all
        .filter((c) => c.error)
        .map(async (c) => `${c.error!}${c.contactId ? await endOf(server.port, seeded.adminKey, c.contactId) : ''}`),
    );
    log(`kefu, ${calls} calls: ${all.length - failed.length} up in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed.length ? `, ${failed.length} failed: ${failed[0]}` : ''}`);
    const m = await measure(children, server.child, s.seconds, true);
    // Calls up after set-up that went down (their connection, or their media stopped) are failed calls, with why
    // and how Kefu ended their contact, not a loss figure: a run where media hardly flowed says why.
    const dropped = await Promise.all(m.counts.flatMap((c) => c.dropped).map(async (d) => `${d.why}${d.contactId ? await endOf(server.port, seeded.adminKey, d.contactId) : ''}`));
    if (dropped.length) log(`kefu, ${calls} calls: ${dropped.length} up after set-up went down: ${dropped[0]}`);
    // Kefu's sockets that dropped packets, by whose they are: a socket whose queue stays full is not read at all.
    const whose = new Map(m.counts.flatMap((c) => c.kefuPorts).map((p) => [p.port, p.who]));
    const bySide = new Map<string, { sockets: number; drops: number; full: number }>();
    for (const x of m.serverSockets) {
      const who = whose.get(x.port) ?? 'not a call side';
      const e = bySide.get(who) ?? { sockets: 0, drops: 0, full: 0 };
      bySide.set(who, { sockets: e.sockets + 1, drops: e.drops + x.drops, full: e.full + (x.queued > 0 ? 1 : 0) });
    }
    const dropsAt = [...bySide].map(([who, e]) => `${who}: ${e.drops} at ${e.sockets} sockets (${e.full} with packets still queued after the window)`).join('; ');
    if (dropsAt) log(`kefu, ${calls} calls: UDP drops at Kefu's sockets: ${dropsAt}`);
    const step = stepOf('kefu', calls, m, loadBefore, [...failed, ...dropped], all.flatMap((c) => (c.firstVideoMs === null ? [] : [c.firstVideoMs])));
    if (dropsAt) step.notes.push(`UDP drops at Kefu's sockets, by side: ${dropsAt}`);
    step.threads = m.threadsPct;
    await Promise.all(children.map((c) => ask(c, { type: 'teardown' }, 'torn')));
    const contactIds = all.filter((c) => !c.error && c.contactId).map((c) => c.contactId!);
    if (s.recording && contactIds.length > 0) step.recordings = await checkRecordings(url, dataDir, seeded.instanceId, contactIds, s);
    // What the calls left behind in Kefu (peers, recorders): its RSS before the step and after it (calls ended).
    await sleep(3000);
    step.rssAround = { before: rssBefore, after: rssMb(server.child.pid!) };
    return step;
  } finally {
    await Promise.all(children.map((c) => stop(c)));
  }
}

let last: Step[] = [];
let clipInfo = '';


export const avBench: BenchModule = {
  name: 'av',
  title: 'Customer video calls relayed and recorded (werift DTLS-SRTP) vs a bare UDP forwarder',
  comparison: null,
  describe() {
    const s = settings();
    return [
      `Concurrent customer video calls, ${s.calls.join(', ')} per step, through one Kefu (child process, PostgreSQL \`${database}\`, KEFU_AV_RECORDING=${s.recording ? 'on' : 'off'}) and, with the same packets, through a bare UDP forwarder (a node:dgram socket pair per call, no SRTP: the ceiling).`,
      `Each call: a customer and an agent stand-in (werift peer connections, DTLS-SRTP, host candidate 127.0.0.1; ${s.peerProcs} processes apart from Kefu) each sending ${clipInfo || 'VP8 ~500 kbit/s and Opus'} in real time, replayed from a clip encoded once by ffmpeg (no encoding in the bench).`,
      `The customer starts with startAvCall, an agent of the shard's AV group takes the agentOffers offer with acceptAvCall; calls start at ${s.setupRate}/s and must have video both ways within ${s.setupTimeoutS} s (else failed). Then a ${s.seconds} s window after a quiet pause: loss = 1 - distinct packets received / sent, per direction; Kefu's CPU (/proc, all threads) over the window.`,
      `Then the customers end their calls; each participant's WebM must be READY (ffprobe reads one). Target: ${targetCalls} concurrent recorded video calls under ${targetLoss * 100} % loss, no call failed.`,
    ].join(' ');
  },
  async run() {
    const s = settings();
    last = [];
    const mediaDir = makeMediaFiles();
    const clips = loadClips(mediaDir);
    clipInfo = `VP8 640x480 30 fps ${(clips.video.bitsPerSecond / 1000).toFixed(0)} kbit/s (${((clips.video.packets.length * 1000) / clips.video.durationMs).toFixed(0)} packets/s) and Opus ${(clips.audio.bitsPerSecond / 1000).toFixed(0)} kbit/s (50 packets/s)`;
    let server: ServerChild | null = null;
    let seeded: Seeded | null = null;
    let url = '';
    const dataDir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-av-'));
    try {
      if (s.targets.includes('kefu')) {
        url = await recreateDatabase(database);
        // BENCH_AV_PROF=<dir> (passed on): a V8 CPU profile of Kefu over each window.
        server = await startServerChild(new URL('./av/server-child.ts', import.meta.url), { DATABASE_URL: url, KEFU_OPERATOR_TOKEN: operatorToken, BENCH_AV_DATA_DIR: dataDir, BENCH_AV_RECORDING: s.recording ? 'on' : 'off' });
        const shards = s.peerProcs;
        seeded = await seed(server.port, Math.ceil(Math.max(...s.calls) / shards) + 1, shards);
      }
      let firstIndex = 0;
      for (const calls of s.calls) {
        if (s.targets.includes('bare')) {
          const b = await bareStep(calls, s, mediaDir);
          log(`bare, ${calls} calls: loss ${pct(b.lossToAgent)} / ${pct(b.lossToCustomer)}, ${f1(b.cpuMsPerCallSecond)} CPU ms per call-second`);
          last.push(b);
        }
        if (server && seeded) {
          const k = await kefuStep(calls, s, mediaDir, server, seeded, url, dataDir, firstIndex);
          firstIndex += 10_000;
          log(`kefu, ${calls} calls: CPU by thread (of one CPU): ${k.threads}`);
          log(`kefu, ${calls} calls: loss ${pct(k.lossToAgent)} / ${pct(k.lossToCustomer)} (${k.perKind}), ${f1(k.cpuMsPerCallSecond)} CPU ms per call-second, ${f1(k.cpuUsPerPacket)} us per packet (main thread ${f1(k.mainCpuUsPerPacket)}), recordings ${k.recordings?.ready ?? '-'}/${k.recordings?.expected ?? '-'}`);
          last.push(k);
        }
      }
    } finally {
      if (server) await stopServerChild(server);
      if (s.targets.includes('kefu')) await dropDatabase(database).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
    return [];
  },
  notes() {
    const header = ['Calls', 'target', 'up (failed)', 'loss to agents', 'loss to customers', 'worst stream', 'resent', 'UDP drops at server / peers / all', 'loop delay max (p99) server / peers', 'CPU (of 1 CPU)', 'CPU ms per call-second', 'CPU us per packet delivered (main thread)', 'peers CPU', 'RSS MB before / during / after', 'first video p50 / p95 / max', 'recordings READY', 'load before'];
    const rows = last.map((x) => [
      String(x.calls),
      x.target === 'kefu' ? 'kefu' : 'bare UDP',
      `${x.up} (${x.failed.length})`,
      pct(x.lossToAgent),
      pct(x.lossToCustomer),
      pct(x.worstStream),
      String(x.resent),
      `${x.serverDrops} / ${x.peerDrops} / ${x.udpDrops}`,
      `${x.loop ? `${x.loop.maxMs.toFixed(0)} (${x.loop.p99Ms.toFixed(0)})` : '-'} / ${x.peersLoopMaxMs.toFixed(0)} ms`,
      `${f1(x.cpuPct)} %`,
      f1(x.cpuMsPerCallSecond),
      `${f1(x.cpuUsPerPacket)} (${f1(x.mainCpuUsPerPacket)})`,
      `${f1(x.peersCpuPct)} %`,
      [x.rssAround?.before ?? null, x.rssMb, x.rssAround?.after ?? null].map((v) => (v === null ? '-' : v.toFixed(0))).join(' / '),
      x.firstVideo.length ? `${[50, 95, 100].map((p) => percentile(x.firstVideo, p).toFixed(0)).join(' / ')} ms` : '-',
      x.recordings ? `${x.recordings.ready} / ${x.recordings.expected}` : '-',
      x.loadBefore.toFixed(1),
    ]);
    const table = [header, header.map((_, i) => (i < 3 ? '---' : '---:')), ...rows].map((c) => `| ${c.join(' | ')} |`).join('\n');
    const good = (t: Target) => last.filter((x) => x.target === t && x.failed.length === 0 && x.up === x.calls && Math.max(x.lossToAgent, x.lossToCustomer) < targetLoss).reduce((n, x) => Math.max(n, x.calls), 0);
    const lines = [table, ''];
    const kefuBest = good('kefu');
    if (last.some((x) => x.target === 'kefu')) lines.push(`Most calls with under ${targetLoss * 100} % loss each way and no failed call: Kefu ${kefuBest || 'none of the steps'}${last.some((x) => x.target === 'bare') ? `, bare forwarder ${good('bare') || 'none of the steps'}` : ''} (steps run: ${[...new Set(last.map((x) => x.calls))].join(', ')}). Target ${targetCalls}: ${kefuBest >= targetCalls ? 'met' : 'not met'}.`);
    // Kefu's share of the ceiling: the forwarder's CPU per call over Kefu's, at each step both ran.
    const shares = last.filter((x) => x.target === 'kefu').flatMap((k) => {
      const b = last.find((x) => x.target === 'bare' && x.calls === k.calls);
      return b && k.cpuMsPerCallSecond > 0 && k.cpuUsPerPacket > 0
        ? [`${k.calls} calls: ${(b.cpuMsPerCallSecond / k.cpuMsPerCallSecond).toFixed(3)}x per call-second (${f1(k.cpuMsPerCallSecond)} vs ${f1(b.cpuMsPerCallSecond)} ms), ${(b.cpuUsPerPacket / k.cpuUsPerPacket).toFixed(3)}x per packet delivered (${f1(k.cpuUsPerPacket)} vs ${f1(b.cpuUsPerPacket)} us)`]
        : [];
    });
    if (shares.length) lines.push(`Kefu's share of the bare forwarder (what one CPU carries through Kefu over what it carries through the forwarder = the forwarder's CPU per unit / Kefu's): ${shares.join('; ')}.`);
    for (const x of last) {
      if (x.target === 'kefu') lines.push(`Kefu ${x.calls} calls, CPU by thread in the window (of one CPU): ${x.threads}.`);
      if (x.recordings) lines.push(`Kefu ${x.calls} calls, one customer's recording: ${x.recordings.probe}.`);
      if (x.failed.length) lines.push(`${x.target} ${x.calls} calls, ${x.failed.length} failed (${failureCauses(x.failed)}): ${[...new Set(x.failed)].slice(0, 3).join('; ')}.`);
      if (x.notes.length) lines.push(`${x.target} ${x.calls} calls, errors seen: ${x.notes.join('; ')}.`);
    }
    lines.push('', '"resent": packets received more than once (resends after NACKs). "UDP drops": datagrams the kernel dropped because a socket receive buffer was full (a reader that fell behind), at the sockets of the server and of the peers (/proc/net/udp), and machine-wide (/proc/net/snmp, other work included). "loop delay": the longest event-loop delay in the window (and p99). "first video": from startAvCall sent to the first video packet at the agent. CPU ms per call-second: CPU time over the window / calls / seconds; the bare forwarder does no SRTP, no ICE/DTLS and no recording.');
    return lines.join('\n');
  },
};

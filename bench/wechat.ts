// WeChat bench (issue 13): inbound WeChat messages through the callback on PostgreSQL, as WeChat sends them in
// safe mode (signature and msg_signature checked, AES decrypted, deduplicated, appended to the customer's chat,
// answered `success`), beside the web chat's sendChatMessage in the same run. Kefu runs in a child process
// (bench/wechat/server-child.ts); the pushes are signed and encrypted before the timed part.
// Measured: the time to answer WeChat (p50, p99; the goal: p99 < 50 ms at 500 messages/s, far inside WeChat's
// 5 s) at a paced rate, then a closed loop (a fixed number of requests in flight) for the most messages per
// second of each path, WeChat's as a ratio of the web chat's. Every push is counted back in contact_messages
// (nothing lost, nothing doubled; a share of pushes is sent twice as WeChat's retries).
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { envInt, envString } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { databaseUrl, dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { percentile } from './lib/stats.ts';
import { encryptWechatMessage, wechatSignature } from '../src/adapters/wechat/wechat-crypto.ts';
import { xmlOf } from '../src/adapters/wechat/wechat-messages.ts';

const database = 'kefu_bench_wechat';
const operatorToken = 'bench-wechat-operator-token';
const aesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const appId = 'wx00000000000be0c1';
const token = 'benchToken';

const settings = () => ({
  rate: Math.max(1, envInt('BENCH_WECHAT_RATE', 500)),
  seconds: Math.max(1, envInt('BENCH_WECHAT_SECONDS', 20)),
  customers: Math.max(1, envInt('BENCH_WECHAT_CUSTOMERS', 500)),
  inFlight: Math.max(1, envInt('BENCH_WECHAT_IN_FLIGHT', 32)),
  closedSeconds: Math.max(1, envInt('BENCH_WECHAT_CLOSED_SECONDS', 10)),
  retryPercent: Math.min(100, Math.max(0, envInt('BENCH_WECHAT_RETRY_PERCENT', 5))),
  // Kept-alive connections to Kefu at most (the client's pool; a request waits for a free one).
  connections: Math.max(1, envInt('BENCH_WECHAT_CONNECTIONS', 64)),
  // off: the WeChat parts only (a quicker A/B of the callback; no web chat beside it, no ratio).
  web: envString('BENCH_WECHAT_WEB', 'on') !== 'off',
});

let lastNotes = '';

/** A setup call; tried again when Kefu says to (CONFLICT "not readable yet", SERVICE_UNAVAILABLE: a loaded machine). */
async function gql<T>(url: string, auth: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data: T; errors?: { extensions?: { code?: string } }[] };
    if (!body.errors?.length) return body.data;
    const code = body.errors[0]?.extensions?.code;
    if (attempt >= 50 || (code !== 'CONFLICT' && code !== 'SERVICE_UNAVAILABLE')) throw new Error(JSON.stringify(body.errors));
    await new Promise((r) => setTimeout(r, 300));
  }
}

interface Request {
  url: string;
  body: string;
  headers: Record<string, string>;
}

let msgId = 10_000_000_000n;
function pushRequest(callbackUrl: string, openId: string, content: string): Request {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(6).toString('hex');
  msgId++;
  const plain = xmlOf({ ToUserName: 'gh_000000000000', FromUserName: openId, CreateTime: Number(timestamp), MsgType: 'text', Content: content, MsgId: String(msgId) });
  const encrypted = encryptWechatMessage(aesKey, appId, plain);
  const url = `${callbackUrl}?signature=${wechatSignature(token, timestamp, nonce)}&timestamp=${timestamp}&nonce=${nonce}&openid=${openId}&encrypt_type=aes&msg_signature=${wechatSignature(token, timestamp, nonce, encrypted)}`;
  return { url, body: xmlOf({ ToUserName: 'gh_000000000000', Encrypt: encrypted }), headers: { 'content-type': 'text/xml' } };
}

/** Why requests failed (a status, or the client's error code), for the notes. */
const failures = new Map<string, number>();
const failedBecause = (why: string) => failures.set(why, (failures.get(why) ?? 0) + 1);

/** When each answered request of a part was due, sent and answered (ms on the machine's monotonic clock, as Kefu's own marks). */
interface Mark {
  seq: number;
  due: number;
  sent: number;
  /** When the request had its connection (a busy pool makes it wait). */
  connected: number;
  answered: number;
}
/**
 * performance.now() on CLOCK_MONOTONIC, which every process of the machine shares (hrtime), unlike
 * performance.timeOrigin + now(): the wall clock at each process's start, which put the two processes' marks up
 * to ~10 ms apart (answers read before Kefu wrote them).
 */
// The largest of a few readings: one the process was preempted in the middle of comes out smaller.
const monotonic = Math.max(...Array.from({ length: 9 }, () => Number(process.hrtime.bigint()) / 1e6 - performance.now()));
let marks: Mark[] = [];
let nextSeq = 0;

/**
 * The pushes' (and the web chat's sends') client: node:http over a bounded pool of kept-alive connections, as a
 * sender of many requests to one server keeps them; a request finding every connection busy waits for one (that
 * wait is counted: the time runs from `due`). Not fetch: its client cost several times the CPU per request
 * (~300-550 µs against ~60-100, the same requests on an idle loop), on the same 2 CPUs as Kefu and PostgreSQL,
 * and without a bound it opened a new connection whenever all were busy (1,178 for 3,150 requests in a loaded run).
 */
let agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(r: Request, seq: number): Promise<{ status: number; text: string; connected: number }> {
  const url = new URL(r.url);
  let connected = 0;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'POST', agent, headers: { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)), 'x-bench-seq': String(seq) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, connected }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.once('socket', () => (connected = performance.now()));
    req.end(r.body);
  });
}

/**
 * One request; its time from `due` (when it should have gone: a late generator is not allowed to hide the delay it
 * caused, no coordinated omission) to its answer's body read. Each request carries x-bench-seq, so Kefu's marks of
 * it (headers read, answer written) split its time into: to Kefu, inside Kefu, back.
 */
async function timed(r: Request, ok: (status: number, text: string) => boolean, due = performance.now()): Promise<number | null> {
  const seq = nextSeq++;
  const sent = performance.now();
  let res: { status: number; text: string; connected: number };
  try {
    res = await post(r, seq);
  } catch (err) {
    failedBecause(String((err as { code?: string }).code ?? (err as Error).message));
    throw err;
  }
  const answered = performance.now();
  if (!ok(res.status, res.text)) {
    failedBecause(`status ${res.status}`);
    return null;
  }
  marks.push({ seq, due: monotonic + due, sent: monotonic + sent, connected: monotonic + (res.connected || sent), answered: monotonic + answered });
  return answered - due;
}

/** Sends `requests` at `rate` per second; the answer times of those that succeeded. */
async function paced(requests: Request[], rate: number, ok: (status: number, text: string) => boolean): Promise<{ times: number[]; failed: number; ms: number }> {
  const times: number[] = [];
  let failed = 0;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < requests.length; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      timed(requests[i]!, ok, due).then(
        (t) => {
          if (t === null) failed++;
          else times.push(t);
        },
        () => {
          failed++;
        },
      ),
    );
  }
  await Promise.all(pending);
  return { times, failed, ms: performance.now() - started };
}

/** Keeps `inFlight` requests going for `seconds`; the answer times. */
async function closed(next: () => Request, inFlight: number, seconds: number, ok: (status: number, text: string) => boolean): Promise<{ times: number[]; failed: number; ms: number }> {
  const times: number[] = [];
  let failed = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        const t = await timed(next(), ok).catch(() => null);
        if (t === null) failed++;
        else times.push(t);
      }
    }),
  );
  return { times, failed, ms: performance.now() - started };
}

/** What the Kefu child measured inside itself over a part (bench/wechat/server-child.ts). */
interface Inside {
  answers: number;
  /** TCP connections Kefu accepted over the part. */
  connections: number;
  /** Answers other than 200, by status. */
  notOk: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcMs: number;
  gcMaxMs: number;
  /** Young-generation collections (scavenges): how many, their pauses in all and the longest. */
  youngGcs: number;
  youngGcMs: number;
  youngGcMaxMs: number;
}

const insideOf = (i: Inside) =>
  `answer p50 / p99 ${i.p50Ms.toFixed(1)} / ${i.p99Ms.toFixed(1)} ms (${i.answers}${Object.keys(i.notOk).length > 0 ? `, not 200: ${JSON.stringify(i.notOk)}` : ''}), loop delay p99 / max ${i.loopDelayP99Ms.toFixed(1)} / ${i.loopDelayMaxMs.toFixed(1)} ms, GC ${i.gcMs.toFixed(0)} ms in all (longest ${i.gcMaxMs.toFixed(1)}; ${i.youngGcs} scavenges, ${i.youngGcMs.toFixed(0)} ms, longest ${i.youngGcMaxMs.toFixed(1)}), ${i.connections} connections accepted`;

/**
 * Where a part's answer time went, from the bench's marks and Kefu's (same clock): the generator's lateness (due to
 * sent), waiting for one of the pool's connections, to Kefu (the connection's to headers read: the client's write,
 * the kernel, Kefu's event loop busy elsewhere, the HTTP parser), inside Kefu (headers read to the answer handed to
 * the socket) and back (handed over to the body read: the kernel, the bench's own event loop). p50 and p99 of each, and their means over the slowest 1 % of answers; the bench's own
 * CPU and event-loop delay over the part (a generator on the same 2 CPUs is part of what it measures).
 */
function whereTimeWent(client: Mark[], kefu: [number, number, number][], generator: { cpuMs: number; ms: number; loopP99Ms: number; loopMaxMs: number }): string {
  const byseq = new Map(kefu.map(([seq, start, end]) => [seq, { start, end }] as const));
  const parts: { total: number; late: number; pool: number; to: number; inside: number; back: number }[] = [];
  for (const m of client) {
    const k = byseq.get(m.seq);
    if (!k) continue;
    parts.push({ total: m.answered - m.due, late: m.sent - m.due, pool: m.connected - m.sent, to: k.start - m.connected, inside: k.end - k.start, back: m.answered - k.end });
  }
  if (parts.length === 0) return 'no marks';
  parts.sort((a, b) => a.total - b.total);
  const slowest = parts.slice(Math.floor(parts.length * 0.99));
  const mean = (key: keyof (typeof parts)[number]) => slowest.reduce((a, p) => a + p[key], 0) / slowest.length;
  const of = (key: keyof (typeof parts)[number], label: string) => `${label} ${percentile(parts.map((p) => p[key]), 50).toFixed(1)} / ${percentile(parts.map((p) => p[key]), 99).toFixed(1)} (slowest 1 %: ${mean(key).toFixed(1)})`;
  return [
    `${parts.length} answers matched, ms p50 / p99 (mean over the slowest 1 %): ${of('total', 'due to answer')}, ${of('late', 'generator late')}, ${of('pool', 'waiting for a connection')}, ${of('to', 'to Kefu')}, ${of('inside', 'inside Kefu')}, ${of('back', 'back')}`,
    `bench process CPU ${((100 * generator.cpuMs) / generator.ms).toFixed(0)} % of a CPU, its loop delay p99 / max ${generator.loopP99Ms.toFixed(1)} / ${generator.loopMaxMs.toFixed(1)} ms`,
  ].join('; ');
}

function row(measurement: string, label: string, target: string, r: { times: number[]; ms: number }): ResultRow {
  return {
    measurement,
    label,
    target,
    events: r.times.length,
    ms: r.ms,
    eventsPerSec: (r.times.length * 1000) / r.ms,
    p50Ms: percentile(r.times, 50),
    p99Ms: percentile(r.times, 99),
    perRound: [(r.times.length * 1000) / r.ms],
    showTime: true,
  };
}

export const wechatBench: BenchModule = {
  name: 'wechat',
  title: 'WeChat callback (issue 13)',
  describe() {
    const s = settings();
    return [
      `Inbound WeChat text messages in safe mode through \`POST /wechat/callback/…\` on PostgreSQL: signature and`,
      `msg_signature checked, AES-256-CBC decrypted, deduplicated by MsgId, appended to the customer's open chat,`,
      `answered \`success\`. ${s.customers} customers (each with its chat started before the timed part);`,
      `paced at ${s.rate} messages/s for ${s.seconds} s (${s.retryPercent}% sent twice as WeChat's retries), then a closed`,
      `loop of ${s.inFlight} requests in flight for ${s.closedSeconds} s; the web chat's sendChatMessage (GraphQL over HTTP,`,
      `one chat per customer) the same ways, over at most ${s.connections} kept-alive connections (node:http); each answer timed from when`,
      `its request was due. Goal: p99 < 50 ms to answer WeChat at 500 messages/s.`,
    ].join('\n');
  },
  comparison: { numerator: 'kefu-wechat', denominator: 'kefu-webchat', title: 'WeChat / web chat' },
  async run() {
    const s = settings();
    await recreateDatabase(database);
    failures.clear();
    agent.destroy();
    agent = new http.Agent({ keepAlive: true, maxSockets: s.connections });
    const url = databaseUrl(database);
    const child: ChildProcess = fork(fileURLToPath(new URL('./wechat/server-child.ts', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // BENCH_WECHAT_NODE_ARGS: Node/V8 flags for the Kefu under test only (--trace-gc, --max-semi-space-size=…).
      execArgv: [...process.execArgv, ...(process.env.BENCH_WECHAT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)],
      env: { ...process.env, DATABASE_URL: url, BENCH_OPERATOR_TOKEN: operatorToken },
    });
    const nextMessage = <T>(type: string) => new Promise<T>((resolve) => child.on('message', function on(m: { type: string }) {
      if (m.type === type) {
        child.off('message', on);
        resolve(m as T);
      }
    }));
    const { port } = await nextMessage<{ port: number }>('ready');
    const kefu = `http://127.0.0.1:${port}`;
    const rows: ResultRow[] = [];
    try {
      const created = await gql<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(kefu, operatorToken, 'mutation { createInstance(input: { name: "Bench" }) { instance { id } adminApiKey } }');
      const admin = created.createInstance.adminApiKey;
      const group = (await gql<{ createSkillGroup: { id: string } }>(kefu, admin, 'mutation { createSkillGroup(input: { name: "Chats", channel: ONLINE }) { id } }')).createSkillGroup.id;
      const account = await gql<{ createWechatAccount: { callbackUrl: string } }>(kefu, admin, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { callbackUrl } }', {
        input: { name: 'Bench', kind: 'OFFICIAL_ACCOUNT', appId, appSecret: '0123456789abcdef0123456789abcdef', token, encodingAesKey: aesKey, messageMode: 'SAFE', skillGroupId: group },
      });
      const callbackUrl = `${kefu}${new URL(account.createWechatAccount.callbackUrl).pathname}`;
      const channel = await gql<{ createWebChannel: { webChannel: { publicKey: string } } }>(kefu, admin, 'mutation($g: ID!) { createWebChannel(input: { name: "Web", allowedOrigins: ["*"], skillGroupId: $g }) { webChannel { publicKey } } }', { g: group });
      const wechatOk = (status: number, text: string) => status === 200 && text === 'success';
      const webOk = (status: number, text: string) => status === 200 && !text.includes('"errors"');

      // Every customer's chat started (the first message of each), outside the timed part.
      const openIds = Array.from({ length: s.customers }, (_, i) => `oBench_${i}`);
      for (let i = 0; i < openIds.length; i += 50) await Promise.all(openIds.slice(i, i + 50).map((o) => timed(pushRequest(callbackUrl, o, 'hello'), wechatOk)));
      const web: { token: string; contactId: string }[] = [];
      for (let i = 0; s.web && i < s.customers; i += 50) {
        web.push(
          ...(await Promise.all(
            Array.from({ length: Math.min(50, s.customers - i) }, async () => {
              const session = await gql<{ startCustomerSession: { token: string } }>(kefu, null, 'mutation($k: String!) { startCustomerSession(input: { channelKey: $k }) { token } }', { k: channel.createWebChannel.webChannel.publicKey });
              const chat = await gql<{ startChat: { contactId: string } }>(kefu, session.startCustomerSession.token, 'mutation { startChat(input: { clientChatId: "bench" }) { contactId } }');
              return { token: session.startCustomerSession.token, contactId: chat.startChat.contactId };
            }),
          )),
        );
      }
      const webRequest = (i: number): Request => {
        const w = web[i % web.length]!;
        return {
          url: `${kefu}/graphql`,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${w.token}` },
          body: JSON.stringify({ query: 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', variables: { input: { contactId: w.contactId, message: { clientMessageId: randomUUID(), text: 'hello from the web' } } } }),
        };
      };

      // Both paths warmed up, untimed, once the chats just started are in the read model (the part timed first
      // must not pay for the setup's projections and routing, nor for cold code and connection pools).
      {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          const deadline = Date.now() + 120_000;
          while (Date.now() < deadline) {
            const r = await c.query<{ n: string }>("SELECT count(*) AS n FROM contacts WHERE channel = 'ONLINE'");
            if (Number(r.rows[0]!.n) >= (s.web ? 2 : 1) * s.customers) break;
            await new Promise((r) => setTimeout(r, 200));
          }
        } finally {
          await c.end();
        }
        const warm = Math.min(200, s.customers);
        await paced(Array.from({ length: warm }, (_, i) => pushRequest(callbackUrl, openIds[i % openIds.length]!, 'warm-up')), Math.min(s.rate, 100), wechatOk);
        if (s.web) await paced(Array.from({ length: warm }, (_, i) => webRequest(i)), Math.min(s.rate, 100), webOk);
        await new Promise((r) => setTimeout(r, 2000));
      }

      // Paced: the pushes made (signed, encrypted) beforehand; some sent twice, as WeChat's retries.
      const total = s.rate * s.seconds;
      const pushes: Request[] = [];
      for (let i = 0; i < total; i++) {
        const r = pushRequest(callbackUrl, openIds[i % openIds.length]!, `message ${i} /::) 😀`);
        pushes.push(r);
        if (s.retryPercent > 0 && i % Math.round(100 / s.retryPercent) === 0) pushes.push(r);
      }
      const distinct = new Set(pushes.map((p) => p.body)).size;
      const stats = new pg.Client({ connectionString: url });
      await stats.connect();
      // Transactions committed in the bench database (each statement outside a transaction is one): Kefu's SQL per message.
      let own = 0;
      const q = <T extends pg.QueryResultRow>(text: string) => {
        own++;
        return stats.query<T>(text);
      };
      const commits = async () => {
        await new Promise((r) => setTimeout(r, 1000));
        await q('SELECT pg_stat_clear_snapshot()');
        return Number((await q<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]!.n) - own;
      };
      // The pushes answered before their effect is made: the part ends when none is left undone (its CPU counted).
      const drained = async () => {
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline) {
          const r = await q<{ n: string }>('SELECT count(*) AS n FROM wechat_inbound WHERE pending');
          if (Number(r.rows[0]!.n) === 0) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('WeChat pushes still undone after 120 s');
      };
      const wxCommits0 = await commits();
      child.send({ type: 'cpu-start' });
      await nextMessage('cpu-started');
      marks = [];
      const benchLoop = monitorEventLoopDelay({ resolution: 5 });
      benchLoop.enable();
      const benchCpu0 = process.cpuUsage();
      const wx = await paced(pushes, s.rate, wechatOk);
      const benchCpu = process.cpuUsage(benchCpu0);
      benchLoop.disable();
      const wxMarks = marks;
      await drained();
      child.send({ type: 'cpu-stop' });
      const wxCpu = await nextMessage<{ cpuMs: number; inside: Inside; marks: [number, number, number][] }>('cpu');
      const wxSplit = whereTimeWent(wxMarks, wxCpu.marks, { cpuMs: (benchCpu.user + benchCpu.system) / 1000, ms: wx.ms, loopP99Ms: benchLoop.percentile(99) / 1e6, loopMaxMs: benchLoop.max / 1e6 });
      const wxCommits = (await commits()) - wxCommits0;
      rows.push(row('paced', `paced ${s.rate}/s: time to answer`, 'kefu-wechat', wx));
      let web_: { paced: Awaited<ReturnType<typeof paced>>; cpu: { cpuMs: number; inside: Inside }; commits: number } | null = null;
      if (s.web) {
        const webCommits0 = await commits();
        child.send({ type: 'cpu-start' });
        await nextMessage('cpu-started');
        const webPaced = await paced(Array.from({ length: total }, (_, i) => webRequest(i)), s.rate, webOk);
        child.send({ type: 'cpu-stop' });
        const webCpu = await nextMessage<{ cpuMs: number; inside: Inside }>('cpu');
        const webCommits = (await commits()) - webCommits0;
        rows.push(row('paced', `paced ${s.rate}/s: time to answer`, 'kefu-webchat', webPaced));
        web_ = { paced: webPaced, cpu: webCpu, commits: webCommits };
      }
      let n = 0;
      const wxClosed = await closed(() => pushRequest(callbackUrl, openIds[n++ % openIds.length]!, 'closed loop'), s.inFlight, s.closedSeconds, wechatOk);
      await drained();
      rows.push(row('closed', `closed loop, ${s.inFlight} in flight`, 'kefu-wechat', wxClosed));
      if (s.web) {
        let m = 0;
        const webClosed = await closed(() => webRequest(m++), s.inFlight, s.closedSeconds, webOk);
        rows.push(row('closed', `closed loop, ${s.inFlight} in flight`, 'kefu-webchat', webClosed));
      }

      // Nothing lost, nothing doubled: every distinct push of the paced and closed parts once in the read model.
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const expected = s.customers + Math.min(200, s.customers) + distinct + wxClosed.times.length;
        // The read model a moment behind the store: counted until it has them all (or a minute passed).
        const storedCount = () => c.query<{ n: string }>("SELECT count(*) AS n FROM contact_messages m JOIN contacts c ON c.instance_id = m.instance_id AND c.id = m.contact_id WHERE m.sender = 'CUSTOMER' AND c.source->>'kind' = 'WECHAT'");
        let stored = await storedCount();
        for (let i = 0; i < 600 && Number(stored.rows[0]!.n) < expected; i++) {
          await new Promise((r) => setTimeout(r, 100));
          stored = await storedCount();
        }
        // CPU per message (Kefu's process, user + system): what the load of the machine barely changes, unlike times.
        const wxCpuPer = wxCpu.cpuMs / Math.max(1, wx.times.length);
        const webCpuPer = web_ ? web_.cpu.cpuMs / Math.max(1, web_.paced.times.length) : NaN;
        lastNotes = [
          `Paced WeChat part: ${wx.times.length} answered, ${wx.failed} failed, Kefu CPU ${wxCpuPer.toFixed(2)} ms per push.`,
          ...(web_
            ? [
                `Paced web chat part: ${web_.paced.times.length} answered, ${web_.paced.failed} failed, Kefu CPU ${webCpuPer.toFixed(2)} ms per sendChatMessage; WeChat / web CPU per message ${(wxCpuPer / webCpuPer).toFixed(2)}.`,
                `SQL transactions committed per message (pg_stat_database, all of Kefu's work: answer, effect, projections, processes): WeChat ${(wxCommits / Math.max(1, wx.times.length)).toFixed(2)}, web chat ${(web_.commits / Math.max(1, web_.paced.times.length)).toFixed(2)}.`,
              ]
            : [`SQL transactions committed per message (pg_stat_database, all of Kefu's work: answer, effect, projections, processes): WeChat ${(wxCommits / Math.max(1, wx.times.length)).toFixed(2)}.`]),
          `Inside Kefu (request's headers to the answer handed to the socket; event loop delay; GC), paced WeChat part: ${insideOf(wxCpu.inside)}${web_ ? `; web chat part: ${insideOf(web_.cpu.inside)}` : ''}.`,
          `Paced WeChat part, where the time went: ${wxSplit}.`,
          `Stored WeChat customer messages: ${stored.rows[0]!.n}, expected ${expected} (${pushes.length - distinct} retries sent twice, each stored once).`,
          ...(failures.size > 0 ? [`Failed requests by cause: ${JSON.stringify(Object.fromEntries(failures))}.`] : []),
          `p99 to answer WeChat at ${s.rate}/s: ${percentile(wx.times, 99).toFixed(1)} ms (goal < 50 ms).`,
        ].join('\n');
      } finally {
        await c.end();
        await stats.end();
      }
    } finally {
      agent.destroy();
      child.send({ type: 'stop' });
      await new Promise((r) => child.once('exit', r));
      await dropDatabase(database).catch(() => undefined);
    }
    return rows;
  },
  notes: () => lastNotes,
};

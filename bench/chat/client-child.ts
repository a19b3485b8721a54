// One shard of the chat bench's load (bench/chat.ts), in its own process so that the clients' CPU is their own
// and several shards run in parallel. A shard has its own skill group and web channel, so its customers chat
// only with its own agents and every latency is two timestamps of this process (performance.now()).
// Clients are lightweight: `ws` sockets speaking graphql-transport-ws and node:http requests with the page's
// Origin, parsing only what they need (seq, clientMessageId, sender) and timestamping.
//
// Agents: one socket each, `agentOffers`; an offer in state ACCEPTED (the group auto-accepts) starts a
// `conversationEvents` subscription on the same socket, and every CUSTOMER message seen there is answered at
// once with sendChatMessage. Customers: startCustomerSession, startChat, one socket with `conversationEvents`.
// Idle customers do nothing more. Active ones send, paced (every intervalMs, random phase) or closed-loop (the
// next as soon as the agent's answer to the previous one arrived).
//
// IPC: `agents`, `idle`, `active` (connect; answer `done` with counts), `run` (a phase; answer `ran` with
// latencies, counts and this process's CPU time), `acked` (per chat: sends acknowledged by each side), `close`.
import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request } from 'node:http';
import WebSocket from 'ws';

const origin = process.env.BENCH_CHAT_ORIGIN ?? 'https://shop.bench.example';

const EVENTS = 'subscription Events($c: ID!, $after: Int) { conversationEvents(contactId: $c, afterSeq: $after) { kind message { seq clientMessageId sender system { type } } } }';
const OFFERS = 'subscription Offers { agentOffers { offerId state contact { id } } }';
const SESSION = 'mutation StartSession($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token visitorId } }';
const START = 'mutation StartChat($input: StartChatInput!) { startChat(input: $input) { contactId status lastSeq } }';
const CONVERSATION = 'query Conversation($c: ID!) { conversation(contactId: $c) { status } }';
const SEND = 'mutation Send($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }';

let port = 0;
const http = new HttpAgent({ keepAlive: true, maxSockets: Number(process.env.BENCH_CHAT_HTTP_SOCKETS ?? 256) });

function post<T>(token: string | null, operationName: string, query: string, variables: object): Promise<T> {
  const body = JSON.stringify({ operationName, query, variables });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent: http,
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), origin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            const r = JSON.parse(text) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
            if (r.errors?.length || !r.data) reject(new Error(`${operationName}: ${res.statusCode} ${text.slice(0, 300)}`));
            else resolve(r.data);
          } catch {
            reject(new Error(`${operationName}: ${res.statusCode} ${text.slice(0, 300)}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A graphql-transport-ws connection; `onNext(id, text)` gets each `next` frame's raw text. */
function connect(token: string, onNext: (id: string, text: string) => void): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { headers: { origin }, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connection_ack in 60 s')), 60_000);
    socket.once('error', (e) => (clearTimeout(timer), reject(e)));
    socket.once('close', (code, reason) => (clearTimeout(timer), reject(new Error(`closed ${code} ${String(reason)}`))));
    socket.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('{"type":"next"')) {
        const idAt = text.indexOf('"id":"') + 6;
        onNext(text.slice(idAt, text.indexOf('"', idAt)), text);
      } else if (text.startsWith('{"type":"connection_ack"')) {
        clearTimeout(timer);
        socket.removeAllListeners('close');
        socket.on('close', (code) => {
          if (!closing) failed(`socket closed ${code}`);
        });
        resolve(socket);
      } else if (text.startsWith('{"type":"ping"')) socket.send('{"type":"pong"}');
      else if (text.startsWith('{"type":"error"')) failed(text.slice(0, 300));
    });
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
  });
}

const subscribe = (socket: WebSocket, id: string, query: string, variables: object = {}) => socket.send(JSON.stringify({ type: 'subscribe', id, payload: { query, variables } }));

interface Frame {
  kind?: string;
  message?: { seq: number; clientMessageId: string | null; sender: string; system?: { type: string } | null } | null;
}
function eventOf(text: string): Frame | null {
  const m = JSON.parse(text) as { payload?: { data?: { conversationEvents?: Frame } } };
  return m.payload?.data?.conversationEvents ?? null;
}

// ---------------------------------------------------------------------------------------------------------

let closing = false;
/** The first errors' texts, and how many there were. */
const errors: string[] = [];
let errorCount = 0;
function failed(message: string): void {
  errorCount++;
  if (errors.length < 20) errors.push(message);
}
const sockets: WebSocket[] = [];

interface Chat {
  contactId: string;
  token: string;
  /** The agent's socket once it follows the chat, and its token. */
  agent: { token: string } | null;
  /** Sends acknowledged (answered with a seq), per side. */
  customerAcked: number;
  agentAcked: number;
  failed: number;
  /** Closed loop: the next send waits for this. */
  onReply: (() => void) | null;
  connected: boolean;
}
const chats = new Map<string, Chat>();
const idleChats: Chat[] = [];
const activeChats: Chat[] = [];

/** Per customer message in flight: when it was sent, and when the agent answered it. */
const sentAt = new Map<string, number>();
const replySentAt = new Map<string, number>();

interface PhaseStats {
  customerToAgent: number[];
  agentToCustomer: number[];
  roundTrip: number[];
  sendAck: number[];
  /** Customer messages sent in the window, and their answers seen by the customer. */
  sent: number;
  answered: number;
  /** Sends acknowledged (both sides) whose round trip started in the window. */
  acked: number;
}
let stats: PhaseStats | null = null;
let inWindow = new Set<string>();

function onCustomerMessageAtAgent(chat: Chat, clientMessageId: string): void {
  const now = performance.now();
  const t0 = sentAt.get(clientMessageId);
  if (t0 !== undefined && stats && inWindow.has(clientMessageId)) stats.customerToAgent.push(now - t0);
  const replyId = `r${clientMessageId}`;
  replySentAt.set(replyId, performance.now());
  const started = performance.now();
  post<{ sendChatMessage: { seq: number } }>(chat.agent!.token, 'Send', SEND, { input: { contactId: chat.contactId, message: { clientMessageId: replyId, text: 'Thanks, looking into it.' } } }).then(
    () => {
      chat.agentAcked++;
      if (stats && inWindow.has(clientMessageId)) {
        stats.sendAck.push(performance.now() - started);
        stats.acked++;
      }
    },
    (e: Error) => {
      chat.failed++;
      failed(e.message);
    },
  );
}

function onAgentMessageAtCustomer(chat: Chat, clientMessageId: string): void {
  const now = performance.now();
  const original = clientMessageId.slice(1);
  const t1 = replySentAt.get(clientMessageId);
  const t0 = sentAt.get(original);
  if (stats && inWindow.has(original)) {
    if (t1 !== undefined) stats.agentToCustomer.push(now - t1);
    if (t0 !== undefined) stats.roundTrip.push(now - t0);
    stats.answered++;
  }
  sentAt.delete(original);
  replySentAt.delete(clientMessageId);
  const next = chat.onReply;
  chat.onReply = null;
  next?.();
}

function customerSend(chat: Chat, counted: boolean): void {
  const clientMessageId = randomUUID();
  const t0 = performance.now();
  sentAt.set(clientMessageId, t0);
  if (counted && stats) {
    inWindow.add(clientMessageId);
    stats.sent++;
  }
  post<{ sendChatMessage: { seq: number } }>(chat.token, 'Send', SEND, { input: { contactId: chat.contactId, message: { clientMessageId, text: 'Hello, where is my order? 📦' } } }).then(
    () => {
      chat.customerAcked++;
      if (counted && stats) {
        stats.sendAck.push(performance.now() - t0);
        stats.acked++;
      }
    },
    (e: Error) => {
      chat.failed++;
      failed(e.message);
    },
  );
}

// ---------------------------------------------------------------------------------------------------------
// Connecting

async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          await fn(item);
        } catch (e) {
          failed((e as Error).message);
        }
      }
    }),
  );
}

async function connectAgents(tokens: string[]): Promise<void> {
  await inParallel(tokens, 20, async (token) => {
    const following = new Set<string>();
    const socket: WebSocket = await connect(token, (id, text) => {
      if (id === 'offers') {
        const m = JSON.parse(text) as { payload?: { data?: { agentOffers?: { state: string; contact: { id: string } } } } };
        const offer = m.payload?.data?.agentOffers;
        if (offer?.state !== 'ACCEPTED' || following.has(offer.contact.id)) return;
        following.add(offer.contact.id);
        const chat = chats.get(offer.contact.id);
        if (chat) chat.agent = { token };
        else pendingAgents.set(offer.contact.id, { token });
        subscribe(socket, offer.contact.id, EVENTS, { c: offer.contact.id, after: 0 });
        return;
      }
      const e = eventOf(text);
      if (e?.kind !== 'MESSAGE' || e.message?.sender !== 'CUSTOMER' || !e.message.clientMessageId) return;
      const chat = chats.get(id);
      if (chat?.agent) onCustomerMessageAtAgent(chat, e.message.clientMessageId);
    });
    sockets.push(socket);
    subscribe(socket, 'offers', OFFERS);
  });
}
/** Offers that arrived before startChat's answer. */
const pendingAgents = new Map<string, { token: string }>();

/** A set-up call tried again while Kefu answers SERVICE_UNAVAILABLE (its database busy: a loaded machine). */
async function setUp<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (attempt >= 20 || !(e as Error).message.includes('"SERVICE_UNAVAILABLE"')) throw e;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

/**
 * Customers: a session and a chat each, then a socket with conversationEvents. With `socketOnceConnected` (the
 * idle desk's chats), all chats are started first and each socket opens once its chat is CONNECTED (polled
 * with the conversation query): a subscription to a waiting chat re-reads its queue place on every change of
 * any contact or agent of the instance, so thousands of them subscribed while waiting would cost Kefu a number
 * of queries growing with the square of the customers (see the bench's notes), not what this step measures.
 */
async function connectCustomers(channelKey: string, n: number, into: Chat[], socketOnceConnected = false): Promise<void> {
  const width = Number(process.env.BENCH_CHAT_CONNECT_WIDTH ?? 32);
  const started: Chat[] = [];
  const openSocket = async (chat: Chat) => {
    const socket = await connect(chat.token, (_id, text) => {
      const e = eventOf(text);
      if (e?.kind !== 'MESSAGE' || !e.message) return;
      if (e.message.sender === 'SYSTEM' && e.message.system?.type === 'CONNECTED') chat.connected = true;
      else if (e.message.sender === 'AGENT' && e.message.clientMessageId) onAgentMessageAtCustomer(chat, e.message.clientMessageId);
    });
    sockets.push(socket);
    subscribe(socket, 'events', EVENTS, { c: chat.contactId, after: 0 });
  };
  await inParallel(
    Array.from({ length: n }, (_, i) => i),
    width,
    async (i) => {
      const session = (await setUp(() => post<{ startCustomerSession: { token: string } }>(null, 'StartSession', SESSION, { input: { channelKey, name: `Customer ${i}` } }))).startCustomerSession;
      const clientChatId = randomUUID();
      const chatStarted = (await setUp(() => post<{ startChat: { contactId: string } }>(session.token, 'StartChat', START, { input: { clientChatId, visitor: { pageUrl: 'https://shop.bench.example/cart' } } }))).startChat;
      const chat: Chat = { contactId: chatStarted.contactId, token: session.token, agent: pendingAgents.get(chatStarted.contactId) ?? null, customerAcked: 0, agentAcked: 0, failed: 0, onReply: null, connected: false };
      pendingAgents.delete(chatStarted.contactId);
      chats.set(chat.contactId, chat);
      into.push(chat);
      if (socketOnceConnected) started.push(chat);
      else await openSocket(chat);
    },
  );
  if (!socketOnceConnected) return;
  await inParallel(started, width, async (chat) => {
    for (let wait = 100; ; wait = Math.min(2000, wait * 2)) {
      const status = (await post<{ conversation: { status: string } }>(chat.token, 'Conversation', CONVERSATION, { c: chat.contactId })).conversation.status;
      if (status === 'CONNECTED') break;
      if (status === 'ENDED') throw new Error(`idle chat ${chat.contactId} ended before an agent took it`);
      await new Promise((r) => setTimeout(r, wait));
    }
    chat.connected = true;
    await openSocket(chat);
  });
}

async function until(ok: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Phases

async function run(phase: 'paced' | 'closed', seconds: number, intervalMs: number, drainMs: number) {
  stats = { customerToAgent: [], agentToCustomer: [], roundTrip: [], sendAck: [], sent: 0, answered: 0, acked: 0 };
  inWindow = new Set();
  const cpu0 = process.cpuUsage();
  const errorsBefore = errorCount;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  if (phase === 'paced') {
    for (const chat of activeChats) {
      const tick = () => {
        if (stopped || performance.now() >= end) return;
        customerSend(chat, true);
        timers.push(setTimeout(tick, intervalMs));
      };
      timers.push(setTimeout(tick, Math.random() * intervalMs));
    }
  } else {
    for (const chat of activeChats) {
      const again = () => {
        if (stopped || performance.now() >= end) return;
        chat.onReply = again;
        customerSend(chat, true);
      };
      again();
    }
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stopped = true;
  for (const t of timers) clearTimeout(t);
  const windowMs = performance.now() - t0;
  // Every round trip started in the window completes (both sends acknowledged, the answer seen) or times out.
  const s = stats;
  await until(() => s.answered >= s.sent && s.acked >= 2 * s.sent, drainMs);
  const cpu = process.cpuUsage(cpu0);
  for (const chat of activeChats) chat.onReply = null;
  stats = null;
  return {
    type: 'ran',
    windowMs,
    drainedMs: performance.now() - t0 - windowMs,
    sent: s.sent,
    answered: s.answered,
    acked: s.acked,
    customerToAgent: s.customerToAgent,
    agentToCustomer: s.agentToCustomer,
    roundTrip: s.roundTrip,
    sendAck: s.sendAck,
    cpuMs: (cpu.user + cpu.system) / 1000,
    errors: errorCount - errorsBefore,
    firstErrors: errors.slice(0, 5),
  };
}

type Command =
  | { type: 'agents'; port: number; tokens: string[] }
  | { type: 'idle'; channelKey: string; n: number; waitConnected: boolean }
  | { type: 'active'; channelKey: string; n: number }
  | { type: 'run'; phase: 'paced' | 'closed'; seconds: number; intervalMs: number; drainMs: number }
  | { type: 'acked' }
  | { type: 'close' };

process.on('message', (raw) => {
  const m = raw as Command;
  void (async () => {
    try {
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const done = (extra: object) => {
        const cpu = process.cpuUsage(cpu0);
        process.send!({ type: 'done', seconds: (performance.now() - t0) / 1000, cpuMs: (cpu.user + cpu.system) / 1000, errors: errorCount, firstErrors: errors.slice(0, 5), ...extra });
      };
      if (m.type === 'agents') {
        port = m.port;
        await connectAgents(m.tokens);
        done({ agents: m.tokens.length });
      } else if (m.type === 'idle') {
        const t1 = performance.now();
        await connectCustomers(m.channelKey, m.n, idleChats, m.waitConnected);
        const connectSeconds = (performance.now() - t1) / 1000;
        // Holders auto-accept: an idle chat gets connected (queued-mode idle chats never are).
        const connected = m.waitConnected && (await until(() => idleChats.every((c) => c.connected), Number(process.env.BENCH_CHAT_IDLE_CONNECT_WAIT_MS ?? 600_000)));
        done({ connectSeconds, chats: idleChats.length, connected: idleChats.filter((c) => c.connected).length, allConnected: connected });
      } else if (m.type === 'active') {
        await connectCustomers(m.channelKey, m.n, activeChats);
        const followed = await until(() => activeChats.every((c) => c.agent !== null || pendingAgents.has(c.contactId)), 120_000);
        for (const c of activeChats) {
          if (!c.agent && pendingAgents.has(c.contactId)) {
            c.agent = pendingAgents.get(c.contactId)!;
            pendingAgents.delete(c.contactId);
          }
        }
        done({ chats: activeChats.length, followed: activeChats.filter((c) => c.agent).length, allFollowed: followed });
      } else if (m.type === 'run') {
        process.send!(await run(m.phase, m.seconds, m.intervalMs, m.drainMs));
      } else if (m.type === 'acked') {
        process.send!({ type: 'acked', chats: activeChats.map((c) => ({ contactId: c.contactId, customer: c.customerAcked, agent: c.agentAcked, failed: c.failed })) });
      } else {
        closing = true;
        for (const s of sockets) s.terminate();
        http.destroy();
        process.exit(0);
      }
    } catch (err) {
      process.send!({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
process.send!({ type: 'ready' });

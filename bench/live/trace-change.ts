// Where a presence change's time goes before its frame (issue 10), on one process: a Kefu in this process
// (PGlite, or DATABASE_URL; NATS_URL for the bus), one supervisor subscribed to agentStatusChanged over
// graphql-ws, an agent flipping presence. Per change: the SQL statements from the mutation's send to the
// frame's receipt (count, time inside them), the frame's latency and the mutation's answer; with
// TRACE_PROFILE=1 a CPU profile of the changes only (self time by function, top 25).
// Run: node bench/live/trace-change.ts [changes=20]   (TRACE_SQL=1 prints each statement of the last change)
import { mkdtempSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.ts';
import { startKefu } from '../../src/main.ts';
import { operatorToken, seedSupervisorAndAgent } from './seed.ts';

const changes = Number(process.argv[2] ?? 20);

interface Statement {
  at: number;
  ms: number;
  text: string;
}
let statements: Statement[] = [];
const timed = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, textOf: (...a: A) => string) =>
  async function (this: unknown, ...a: A): Promise<R> {
    const at = performance.now();
    try {
      return await fn.apply(this, a);
    } finally {
      statements.push({ at, ms: performance.now() - at, text: textOf(...a) });
    }
  };
const textOf = (q: unknown) => (typeof q === 'string' ? q : ((q as { text?: string })?.text ?? '?'));
// node-postgres: every statement of every pooled client (the LISTEN connection's included).
const pgQuery = pg.Client.prototype.query as (...a: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
  const at = performance.now();
  // pg-pool's query passes a callback (and gets no promise back).
  const cb = a[a.length - 1];
  if (typeof cb === 'function') {
    a[a.length - 1] = (...r: unknown[]) => {
      statements.push({ at, ms: performance.now() - at, text: textOf(a[0]) });
      return (cb as (...x: unknown[]) => unknown)(...r);
    };
  }
  const r = pgQuery.apply(this, a);
  if (r && typeof (r as Promise<unknown>).then === 'function') {
    void (r as Promise<unknown>).then(
      () => statements.push({ at, ms: performance.now() - at, text: textOf(a[0]) }),
      () => statements.push({ at, ms: performance.now() - at, text: `(failed) ${textOf(a[0])}` }),
    );
  }
  return r;
} as typeof pg.Client.prototype.query;

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-trace-live-'));
const env: Record<string, string> = { KEFU_OPERATOR_TOKEN: operatorToken, LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1', KEFU_SIP: 'off', KEFU_DATA_DIR: dir };
if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
if (process.env.NATS_URL) env.NATS_URL = process.env.NATS_URL;
if (process.env.KEFU_PGLITE_WORKER) env.KEFU_PGLITE_WORKER = process.env.KEFU_PGLITE_WORKER;
const kefu = await startKefu(loadConfig(env), { logger: pino({ level: 'silent' }), listen: true });
// PGlite on its worker thread (the default) has no raw instance here: KEFU_PGLITE_WORKER=off times its statements.
if (kefu.sql.kind === 'pglite' && kefu.sql.raw) {
  const raw = kefu.sql.raw as unknown as { query: (...a: unknown[]) => Promise<unknown>; exec: (...a: unknown[]) => Promise<unknown> };
  raw.query = timed(raw.query.bind(raw), (t) => textOf(t));
  raw.exec = timed(raw.exec.bind(raw), (t) => textOf(t));
}
const seeded = await seedSupervisorAndAgent(kefu, 'Trace');
const tokens = { sue: seeded.supervisorToken, ann: seeded.agentToken };
const port = (kefu.app.server.address() as { port: number }).port;

let frameAt: ((t: number) => void) | null = null;
const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
let snapshot = 0;
await new Promise<void>((resolve) => {
  socket.on('message', (data) => {
    const now = performance.now();
    const text = String(data);
    if (text.startsWith('{"type":"connection_ack"')) {
      socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: 'subscription { agentStatusChanged { agent { id name } presence reason since workload { phone online av } } }' } }));
    } else if (text.startsWith('{"type":"next"')) {
      if (++snapshot === 2) resolve();
      frameAt?.(now);
    } else if (!text.startsWith('{"type":"pong"')) console.log('other frame', text.slice(0, 200));
  });
  socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${tokens.sue}` } })));
});

const mutation = (k: number) => JSON.stringify({ query: k % 2 === 0 ? 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }' : 'mutation { setPresence(input: { presence: BREAK, reason: "Rest" }) { id } }' });
const session = new Session();
if (process.env.TRACE_PROFILE === '1') {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
}
const rows: { frameMs: number; answerMs: number; before: number; sqlMsBefore: number; after: number }[] = [];
let last: Statement[] = [];
// What the process spends doing nothing (timers, polls), to tell it from what a change costs.
const idle0 = process.cpuUsage();
await new Promise((r) => setTimeout(r, 3000));
const idle = process.cpuUsage(idle0);
console.log(`idle: ${((idle.user + idle.system) / 1000 / 3).toFixed(1)} ms CPU per second`);
const cpu0 = process.cpuUsage();
for (let k = 0; k < changes + 1; k++) {
  if (k === 1 && process.env.TRACE_PROFILE === '1') await session.post('Profiler.start');
  await new Promise((r) => setTimeout(r, 100));
  statements = [];
  const t0 = performance.now();
  const frame = new Promise<number>((r) => (frameAt = r));
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.ann}` }, body: mutation(k) });
  const text = await res.text();
  if (text.includes('"errors"')) throw new Error(text);
  const answered = performance.now();
  const f = await frame;
  await new Promise((r) => setTimeout(r, 50));
  const before = statements.filter((s) => s.at < f);
  // Change 0 warms up (first statements planned, caches filled).
  if (k > 0) rows.push({ frameMs: f - t0, answerMs: answered - t0, before: before.length, sqlMsBefore: before.reduce((a, s) => a + s.ms, 0), after: statements.length - before.length });
  last = statements.map((s) => ({ ...s, at: s.at - t0 }));
  last.push({ at: f - t0, ms: 0, text: '---- frame received ----' });
  last.push({ at: answered - t0, ms: 0, text: '---- mutation answered ----' });
}
const cpu = process.cpuUsage(cpu0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `${kefu.sql.kind}${process.env.NATS_URL ? ' + NATS' : ''}, ${rows.length} changes (medians): frame ${median(rows.map((r) => r.frameMs)).toFixed(1)} ms, mutation ${median(rows.map((r) => r.answerMs)).toFixed(1)} ms, statements before the frame ${median(rows.map((r) => r.before))} (${median(rows.map((r) => r.sqlMsBefore)).toFixed(1)} ms in them), after ${median(rows.map((r) => r.after))}; process CPU ${((cpu.user + cpu.system) / 1000 / (changes + 1)).toFixed(1)} ms per change (incl. the client)`,
);
if (process.env.TRACE_SQL === '1') {
  for (const s of last.sort((a, b) => a.at - b.at)) console.log(`${s.at.toFixed(1).padStart(7)} ms ${s.ms.toFixed(2).padStart(6)} ms  ${s.text.replace(/\s+/g, ' ').slice(0, 160)}`);
}
if (process.env.TRACE_PROFILE === '1') {
  const { profile } = await session.post('Profiler.stop');
  const self = new Map<string, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<number, number>();
  for (const s of profile.samples ?? []) counts.set(s, (counts.get(s) ?? 0) + 1);
  let total = 0;
  for (const [id, c] of counts) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const key = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/(node_modules\/)?/, '')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + c);
    total += c;
  }
  const ms = (c: number) => ((c / total) * ((profile.endTime - profile.startTime) / 1000)) / changes;
  const busy = [...self].filter(([k]) => !k.startsWith('(idle)')).reduce((a, [, c]) => a + c, 0);
  console.log(`profile: ${total} samples; main thread busy ${ms(busy).toFixed(1)} ms per change; self time per change (ms), top 25:`);
  for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${ms(c).toFixed(2).padStart(7)}  ${k}`);
  // By package or source folder: where the busy time goes.
  const bySource = new Map<string, number>();
  for (const [id, c] of counts) {
    const url = byId.get(id)!.callFrame.url;
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url) ?? /\/(src\/[^/]+(?:\/[^/]+)?|bench|test)\//.exec(url);
    const key = m ? m[1]! : url ? url.replace(/^.*\//, '') : `(${byId.get(id)!.callFrame.functionName})`;
    bySource.set(key, (bySource.get(key) ?? 0) + c);
  }
  console.log('by source (ms per change):');
  for (const [k, c] of [...bySource].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${ms(c).toFixed(2).padStart(7)}  ${k}`);
}
socket.close();
await kefu.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);

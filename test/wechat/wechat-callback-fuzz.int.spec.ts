// Fuzz of WeChat's callback past the signature (issue 13): every push below is correctly signed, and for safe
// and compatible mode correctly encrypted with the account's EncodingAESKey (or, for the frame cases, encrypted
// on purpose with a frame that lies), so the XML and JSON parsers, the decryption and the push checks are what
// is exercised. Mutations: random structure, missing, duplicated and huge fields, CDATA tricks, entities
// (billion laughs, numeric NUL), control characters, invalid UTF-8, unpaired surrogates, deep nesting, unknown
// MsgType, CreateTime in the year 10000 or negative, garbage MediaId; wrong AppID inside, bad PKCS#7 padding,
// lengths inside the decrypted frame that lie. Expected: never a 5xx, each answer in bounded time, a refused
// push stores nothing (no chat for its customer), each refusal logged once however often it is retried, no
// error line, memory bounded, and a valid message after the storm still becomes a chat.
// Seeded: KEFU_FUZZ_SEED=<seed> replays a run (the seed is in every failure message).
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startKefu, type Kefu } from '../../src/main.ts';
import { wechatSignature } from '../../src/adapters/wechat/wechat-crypto.ts';
import { xmlOf } from '../../src/adapters/wechat/wechat-messages.ts';
import { fuzzSeed, seededRandom } from '../support/seeded-random.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';

const operatorToken = 'wechat-fuzz-operator-token-0123';
const aesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const seed = fuzzSeed();
const rounds = Number(process.env.KEFU_FUZZ_ROUNDS ?? 150);

type Rand = () => number;
const pick = <T,>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);

/** A frame as WeChat builds it, but with every part choosable: what a forger holding the key could send. */
function frame(key: string, o: { random?: Buffer; length?: number; message: Buffer; appId: Buffer; pad?: (n: number) => Buffer }): string {
  const k = Buffer.from(`${key}=`, 'base64');
  const len = Buffer.alloc(4);
  len.writeUInt32BE((o.length ?? o.message.length) >>> 0);
  const plain = Buffer.concat([o.random ?? randomBytes(16), len, o.message, o.appId]);
  const n = 32 - (plain.length % 32);
  const padded = Buffer.concat([plain, o.pad ? o.pad(n) : Buffer.alloc(n, n)]);
  const whole = padded.length % 16 === 0 ? padded : Buffer.concat([padded, Buffer.alloc(16 - (padded.length % 16), 0)]);
  const c = createCipheriv('aes-256-cbc', k, k.subarray(0, 16));
  c.setAutoPadding(false);
  return Buffer.concat([c.update(whole), c.final()]).toString('base64');
}

/** XML of fields of any value: strings in CDATA (as WeChat writes them), numbers bare, arrays as repeated and objects as nested elements. */
function xmlOfAny(fields: Record<string, unknown>): string {
  const value = (k: string, v: unknown): string => {
    if (Array.isArray(v)) return v.map((x) => value(k, x)).join('');
    if (v !== null && typeof v === 'object') return `<${k}>${Object.entries(v).map(([a, b]) => value(a, b)).join('')}</${k}>`;
    return typeof v === 'string' ? xmlOf({ [k]: v }).slice(5, -6) : `<${k}>${String(v)}</${k}>`;
  };
  return `<xml>${Object.entries(fields).map(([k, v]) => value(k, v)).join('')}</xml>`;
}

const deep = (n: number, tag = 'a') => `${`<${tag}>`.repeat(n)}x${`</${tag}>`.repeat(n)}`;
const laughs = '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>';
const weird = ['\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\uFFFE', '\uFFFF', '\uD800', '\uDC00', '\u202E', '😀', ']]>', '<![CDATA[', '&', '&amp;', '&#0;', '&#x0;', '&#xD800;', '&#1114112;', '&lt;xml&gt;', '<', '>', '"', "'", '\r', '\n', '\t', ' '];
const msgTypes = ['text', 'image', 'voice', 'video', 'shortvideo', 'location', 'link', 'event', 'file', 'miniprogrampage', '', 'TEXT', 'x'.repeat(41), '<b>', 'text\u0000'];
const events = ['subscribe', 'unsubscribe', 'SCAN', 'CLICK', 'user_enter_tempsession', 'VIEW', 'LOCATION', '', 'e'.repeat(65)];
const createTimes = ['253402300800', '999999999999', '-1', '0', '-253402300800', '1e10', '1.5', 'NaN', '0x10', ' 1700000000', '99999999999999999999', '1700000000\u0000'];
const mediaIds = ['', 'garbage', '../../etc/passwd', 'a&b=c', 'm'.repeat(257), '\u0000', '%00', 'media_deadbeef', '😀'];

/** One mutated push: the fields (with the customer's OpenID), or a whole raw inner body. */
function mutate(r: Rand, account: FakeAccount, i: number): { fields: Record<string, unknown>; raw?: string; label: string } {
  const openId = `oFuzz_${account.format}_${account.mode}_${i}`;
  const fields: Record<string, unknown> = { ToUserName: account.originalId, FromUserName: openId, CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: 'hello', MsgId: String(8_000_000_000 + i) };
  const labels: string[] = [];
  const names = ['ToUserName', 'FromUserName', 'CreateTime', 'MsgType', 'Content', 'MsgId', 'MediaId', 'PicUrl', 'Format', 'Event', 'EventKey', 'SessionFrom', 'UnionId', 'Encrypt'];
  for (let m = 1 + int(r, 3); m > 0; m--) {
    const kind = int(r, 12);
    const f = pick(r, names);
    labels.push(`${kind}:${f}`);
    switch (kind) {
      case 0:
        delete fields[f];
        break;
      case 1:
        fields[f] = pick(r, ['x', '😀', 'a<b>', '\u0000']).repeat(pick(r, [129, 1001, 4001, 20_000]));
        break;
      case 2:
        fields[f] = `${String(fields[f] ?? '')}${pick(r, weird)}${pick(r, weird)}`;
        break;
      case 3:
        fields.MsgType = pick(r, msgTypes);
        if (fields.MsgType === 'event') fields.Event = pick(r, events);
        break;
      case 4:
        fields.CreateTime = pick(r, createTimes);
        break;
      case 5:
        fields.MsgType = pick(r, ['image', 'voice']);
        fields.MediaId = pick(r, mediaIds);
        break;
      case 6:
        fields[f] = pick(r, [null, true, 1e308, -0, [1, 2], { a: 1 }, 2 ** 64]);
        break;
      case 7:
        fields.FromUserName = pick(r, ['', 'o x', 'o/..', 'o'.repeat(129), `${openId}\u0000`, `${openId}😀`]);
        break;
      case 8:
        fields[`Extra${int(r, 1000)}`] = pick(r, weird).repeat(1 + int(r, 50));
        break;
      default:
        break;
    }
  }
  // Some pushes are no field list at all: structure written by hand.
  if (r() < 0.45) {
    const ok = account.format === 'JSON' ? JSON.stringify(fields) : xmlOfAny(fields);
    const raws = account.format === 'JSON'
      ? [
          '[' .repeat(5000) + ']'.repeat(5000),
          `{"a":${'{"a":'.repeat(5000)}1${'}'.repeat(5001)}`,
          ok.replace(/"Content":"[^"]*"/, '"Content":"\\u0000"'),
          ok.replace(/"Content":"[^"]*"/, '"Content":"\\ud800"'),
          ok.replace(/"Content":"[^"]*"/, '"Content":"a","Content":"b"'),
          ok.replace(/"MsgType":"[^"]*"/, '"MsgType":"__proto__"'),
          `{"__proto__":{"MsgType":"text"},${ok.slice(1)}`,
          ok.slice(0, int(r, ok.length)),
          'null',
          '"text"',
          '',
          ok + ok,
        ]
      : [
          `<xml>${deep(20_000)}</xml>`,
          `<xml><ToUserName>${deep(3000, 'x')}</ToUserName></xml>`,
          `${laughs}<xml><Content>&d;</Content></xml>`,
          `<?xml version="1.0"?><!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><Content>&xxe;</Content></xml>`,
          ok.replace('<Content>', '<Content><![CDATA[]]]]><![CDATA[>]]>'),
          ok.replace('</Content>', '</Content><Content>again</Content>'),
          ok.replace('<MsgType>', '<MsgType a="1" b=\'2\'>'),
          ok.replace('<Content>', '<Content>&#0;&#x1F600;&#xD800;'),
          ok.replace('<xml>', '<xml><!-- -- --><?pi x?>'),
          ok.replace('<xml>', '<xml xmlns="urn:x" xmlns:a="urn:a">'),
          ok.replace('<Content><![CDATA[', '<Content><![CDATA[<![CDATA['),
          ok.replace(/<\/xml>$/, ''),
          ok + ok,
          `<xml>${'<E/>'.repeat(8000)}</xml>`,
          ok.slice(0, int(r, ok.length)),
          ok.replaceAll('<', '\u0000<'),
          `<XML>${ok.slice(5, -6)}</XML>`,
          `<xml><__proto__><MsgType>text</MsgType></__proto__>${ok.slice(5)}`,
          ok.replace('<Content>', '<Content>\r\r\r'),
          '',
        ];
    const raw = pick(r, raws);
    labels.push(`raw:${raw.slice(0, 40)}`);
    return { fields, raw, label: labels.join(',') };
  }
  return { fields, label: labels.join(',') };
}

/** Byte-level damage of a body: flips, cuts, invalid UTF-8. */
function damage(r: Rand, body: Buffer): Buffer {
  const b = Buffer.from(body);
  switch (int(r, 4)) {
    case 0:
      for (let i = 0; i < 1 + int(r, 4); i++) if (b.length) b[int(r, b.length)] = int(r, 256);
      return b;
    case 1:
      return b.subarray(0, int(r, b.length + 1));
    case 2: {
      const at = int(r, b.length + 1);
      return Buffer.concat([b.subarray(0, at), Buffer.from(pick(r, [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x00]])), b.subarray(at)]);
    }
    default:
      return b;
  }
}

describe(`WeChat callback fuzz (seed ${seed}, KEFU_FUZZ_SEED=${seed} replays it)`, () => {
  let kefu: Kefu;
  let dir: string;
  let wx: FakeWechat;
  const accounts: FakeAccount[] = [];
  const lines: string[] = [];
  let admin = '';

  const gql = async <T,>(auth: string, query: string, variables?: Record<string, unknown>) => {
    const res = await kefu.app.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` }, payload: JSON.stringify({ query, variables }) });
    const body = JSON.parse(res.body) as { data: T; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };
  const chatsOf = async (prefix: string) =>
    (await kefu.db.selectFrom('contacts').select(['customer']).execute()).map((r) => (r.customer as { id: string }).id).filter((id) => id.startsWith(prefix));

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    dir = mkdtempSync(path.join(tmpdir(), 'kefu-wechat-fuzz-'));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.trim() !== ''));
        done();
      },
    });
    kefu = await startKefu(loadConfig({ KEFU_OPERATOR_TOKEN: operatorToken, PORT: '0', KEFU_SIP: 'off', KEFU_DATA_DIR: dir, KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000' }), { logger: pino({ level: 'warn' }, sink), listen: false });
    admin = (await gql<{ createInstance: { adminApiKey: string } }>(operatorToken, 'mutation { createInstance(input: { name: "Fuzz" }) { adminApiKey } }')).createInstance.adminApiKey;
    const group = (await gql<{ createSkillGroup: { id: string } }>(admin, 'mutation { createSkillGroup(input: { name: "WeChat", channel: ONLINE }) { id } }')).createSkillGroup.id;
    const secret = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
    const specs = [
      { name: 'Plain', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000d1', token: 'fuzzPlain', originalId: 'gh_0000000000d1', mode: 'PLAIN', format: 'XML' },
      { name: 'Safe', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000d2', token: 'fuzzSafe', originalId: 'gh_0000000000d2', mode: 'SAFE', format: 'XML' },
      { name: 'Mini', kind: 'MINI_PROGRAM', appId: 'wx00000000000000d3', token: 'fuzzMini', originalId: 'gh_0000000000d3', mode: 'COMPATIBLE', format: 'JSON' },
    ] as const;
    for (const s of specs) {
      const input: Record<string, unknown> = { name: s.name, kind: s.kind, appId: s.appId, appSecret: secret, token: s.token, originalId: s.originalId, skillGroupId: group };
      if (s.mode !== 'PLAIN') Object.assign(input, { encodingAesKey: aesKey, messageMode: s.mode });
      if (s.format === 'JSON') input.dataFormat = 'JSON';
      const r = await gql<{ createWechatAccount: { callbackUrl: string } }>(admin, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { callbackUrl } }', { input });
      wx.register(s.appId, secret, s.kind);
      accounts.push({ appId: s.appId, appSecret: secret, token: s.token, encodingAesKey: s.mode === 'PLAIN' ? null : aesKey, mode: s.mode, format: s.format, originalId: s.originalId, callbackUrl: new URL(r.createWechatAccount.callbackUrl).pathname });
    }
  }, 120_000);
  afterAll(async () => {
    await kefu?.close();
    await wx?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A signed request for this inner body (encrypted for safe and compatible mode, the frame choosable). */
  function signed(account: FakeAccount, inner: Buffer, nonce: string, o: { encrypted?: string } = {}): { url: string; payload: Buffer } {
    const timestamp = String(Math.floor(Date.now() / 1000));
    let query = `signature=${wechatSignature(account.token, timestamp, nonce)}&timestamp=${timestamp}&nonce=${nonce}`;
    let payload = inner;
    if (account.mode !== 'PLAIN') {
      const encrypted = o.encrypted ?? frame(aesKey, { message: inner, appId: Buffer.from(account.appId) });
      query += `&encrypt_type=aes&msg_signature=${wechatSignature(account.token, timestamp, nonce, encrypted)}`;
      const outer = { ToUserName: account.originalId, Encrypt: encrypted };
      payload = Buffer.from(account.format === 'JSON' ? JSON.stringify(outer) : xmlOf(outer));
    }
    return { url: `${account.callbackUrl}?${query}`, payload };
  }

  it('signed, mutated pushes: never a 5xx, refusals store nothing and are logged once, a valid push still flows', async () => {
    const r = seededRandom(seed);
    const started = Date.now();
    const cpu0 = process.cpuUsage();
    const heap0 = process.memoryUsage().heapUsed;
    const statuses = new Map<number, number>();
    const refused = new Set<string>();
    const accepted = new Set<string>();
    let requests = 0;
    let slowest = 0;
    const failures: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const account = accounts[i % accounts.length]!;
      const m = mutate(r, account, i);
      const openId = `oFuzz_${account.format}_${account.mode}_${i}`;
      let inner = Buffer.from(m.raw ?? (account.format === 'JSON' ? JSON.stringify(m.fields) : xmlOfAny(m.fields)));
      if (r() < 0.25) inner = Buffer.from(damage(r, inner));
      let encrypted: string | undefined;
      let label = m.label;
      if (account.mode !== 'PLAIN' && r() < 0.35) {
        // The frame lies: another AppID, bad padding, a length past the end or short of the message.
        const lie = int(r, 7);
        label += `,frame:${lie}`;
        const appId = Buffer.from(account.appId);
        encrypted = [
          () => frame(aesKey, { message: inner, appId: Buffer.from('wx00000000000000ff') }),
          () => frame(aesKey, { message: inner, appId, pad: (n) => Buffer.alloc(n, 0) }),
          () => frame(aesKey, { message: inner, appId, pad: (n) => Buffer.alloc(n, 33) }),
          () => frame(aesKey, { message: inner, appId, pad: (n) => Buffer.concat([Buffer.alloc(n - 1, 7), Buffer.from([n])]) }),
          () => frame(aesKey, { message: inner, appId, length: pick(r, [0xffffffff, inner.length + 1, inner.length + 1000, 0x7fffffff]) }),
          () => frame(aesKey, { message: inner, appId, length: int(r, inner.length) }),
          () => pick(r, ['', '====', 'not base64 !!', randomBytes(48).toString('base64'), randomBytes(17).toString('base64'), frame(aesKey, { message: inner, appId }).slice(0, -8)]),
        ][lie]!();
      }
      const nonce = `n${i}x${int(r, 1e9)}`;
      const req = signed(account, inner, nonce, { encrypted });
      const retries = r() < 0.3 ? 3 : 1;
      for (let k = 0; k < retries; k++) {
        const t0 = Date.now();
        const res = await kefu.app.inject({ method: 'POST', url: req.url, headers: { 'content-type': account.format === 'JSON' ? 'application/json' : 'text/xml' }, payload: req.payload });
        slowest = Math.max(slowest, Date.now() - t0);
        requests++;
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (![200, 400, 403, 413].includes(res.statusCode)) failures.push(`push ${i} (${label}): ${res.statusCode} ${res.body.slice(0, 300)}`);
        (res.statusCode === 200 ? accepted : refused).add(openId);
      }
      expect(accepted.has(openId) && refused.has(openId), `seed ${seed} push ${i} (${label}): answered both ways`).toBe(false);
    }
    const cpu = process.cpuUsage(cpu0);
    expect(failures, `seed ${seed}: answers other than 200, 400, 403 or 413`).toEqual([]);
    // A refused push started no chat; an accepted one at most one.
    const chats = await chatsOf('oFuzz_');
    for (const id of chats) expect(accepted.has(id), `seed ${seed}: a chat for refused ${id}`).toBe(true);
    expect(new Set(chats).size, `seed ${seed}: one chat per customer`).toBe(chats.length);
    // Each refusal logged once, retries or not; nothing logged as an error.
    const refusedLines = lines.filter((l) => l.includes('WeChat callback refused')).map((l) => JSON.parse(l) as { nonce: string });
    expect(new Set(refusedLines.map((l) => l.nonce)).size, `seed ${seed}: a refusal logged twice`).toBe(refusedLines.length);
    expect(lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50), `seed ${seed}`).toEqual([]);
    expect(refused.size).toBeGreaterThan(rounds / 4);
    expect(slowest, `seed ${seed}: an answer took ${slowest} ms`).toBeLessThan(10_000);
    if (globalThis.gc) globalThis.gc();
    expect(process.memoryUsage().heapUsed - heap0, `seed ${seed}: heap growth`).toBeLessThan(200 * 1024 * 1024);
    // After the storm a valid message still becomes a chat with its text.
    for (const account of accounts) {
      const openId = `oAfter_${account.mode}`;
      const fields = { ToUserName: account.originalId, FromUserName: openId, CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: 'still here 你好', MsgId: String(9_100_000_000 + accounts.indexOf(account)) };
      const req = wx.pushRequest(account, fields);
      const res = await kefu.app.inject({ method: 'POST', url: req.url, headers: { 'content-type': req.contentType }, payload: req.body });
      expect(res.statusCode, `seed ${seed}`).toBe(200);
      expect(await chatsOf(openId)).toEqual([openId]);
    }
    const took = Date.now() - started;
    console.log(
      `WeChat callback fuzz seed ${seed}: ${rounds} pushes, ${requests} requests in ${took} ms (${Math.round((requests * 1000) / took)}/s), test process CPU ${((cpu.user + cpu.system) / 1000 / requests).toFixed(2)} ms/request, slowest ${slowest} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${accepted.size} accepted, ${refused.size} refused`,
    );
  }, 120_000);
});

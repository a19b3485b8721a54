// The multipart doors (a customer's chat upload, an admin's prompt audio and AV icon) fed odd bodies: long,
// quoted, empty or repeated boundaries, NUL bytes and broken UTF-8 in names and values, huge or countless
// part headers, bare LF line ends, bodies cut short, then seeded mutations of a good body (KEFU_FUZZ_SEED
// replays). Every answer is a 2xx or a 4xx with a JSON error code, never a 5xx; what is accepted names its
// file in storable text; Kefu still answers after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPage } from '../support/chat.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { taggedPng } from '../support/chat-images.ts';
import { fuzzSeed, seededRandom } from '../support/seeded-random.ts';
import { answerOf } from '../support/inject.ts';

const origin = 'https://shop.example';
const seed = fuzzSeed();

/** A one-second 8 kHz mono 16-bit WAV of silence. */
function wav(): Buffer {
  const samples = 8000;
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + samples * 2, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(samples * 2, 40);
  return b;
}

interface Part {
  headers: (string | Buffer)[];
  body: Buffer | string;
}

/** A multipart body from raw pieces (nothing escaped or checked: the point is to send what a browser would not). */
function body(boundary: string, parts: Part[], eol = '\r\n', close = true): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}${eol}`, 'latin1'));
    for (const h of p.headers) chunks.push(Buffer.isBuffer(h) ? h : Buffer.from(h, 'utf8'), Buffer.from(eol));
    chunks.push(Buffer.from(eol), Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body, 'utf8'), Buffer.from(eol));
  }
  if (close) chunks.push(Buffer.from(`--${boundary}--${eol}`, 'latin1'));
  return Buffer.concat(chunks);
}

const field = (name: string | Buffer, value: string | Buffer): Part => ({
  headers: [Buffer.isBuffer(name) ? Buffer.concat([Buffer.from('Content-Disposition: form-data; name="'), name, Buffer.from('"')]) : `Content-Disposition: form-data; name="${name}"`],
  body: value,
});
const file = (filename: string | Buffer, bytes: Buffer, type = 'application/octet-stream', name = 'file'): Part => ({
  headers: [
    Buffer.isBuffer(filename) ? Buffer.concat([Buffer.from(`Content-Disposition: form-data; name="${name}"; filename="`), filename, Buffer.from('"')]) : `Content-Disposition: form-data; name="${name}"; filename="${filename}"`,
    `Content-Type: ${type}`,
  ],
  body: bytes,
});

interface Door {
  url: string;
  token: () => string;
  /** The fields before the file. */
  fields: () => Part[];
  bytes: Buffer;
  type: string;
  filename: string;
}

interface Case {
  name: string;
  contentType: string;
  payload: Buffer;
  headers?: Record<string, string>;
}

/** The hand-picked odd bodies for a door. */
function cases(d: Door): Case[] {
  const b = 'kefuBoundary';
  const ct = (boundary: string) => `multipart/form-data; boundary=${boundary}`;
  const good = (parts: Part[] = [...d.fields(), file(d.filename, d.bytes, d.type)]) => body(b, parts);
  const long = 'x'.repeat(70);
  const huge = 'y'.repeat(300);
  return [
    { name: 'a 70-character boundary', contentType: ct(long), payload: body(long, [...d.fields(), file(d.filename, d.bytes, d.type)]) },
    { name: 'a 300-character boundary', contentType: ct(huge), payload: body(huge, [...d.fields(), file(d.filename, d.bytes, d.type)]) },
    { name: 'a quoted boundary with spaces', contentType: 'multipart/form-data; boundary="a b c"', payload: body('a b c', [...d.fields(), file(d.filename, d.bytes, d.type)]) },
    { name: 'no boundary parameter', contentType: 'multipart/form-data', payload: good() },
    { name: 'an empty boundary', contentType: 'multipart/form-data; boundary=', payload: body('', [...d.fields(), file(d.filename, d.bytes, d.type)]) },
    { name: 'two boundary parameters', contentType: `multipart/form-data; boundary=${b}; boundary=other`, payload: good() },
    { name: 'another boundary than the body uses', contentType: ct('other'), payload: good() },
    { name: 'a NUL in the boundary', contentType: `multipart/form-data; boundary="a\u0000b"`, payload: body('a\u0000b', [...d.fields(), file(d.filename, d.bytes, d.type)]) },
    { name: 'a NUL in the file name', contentType: ct(b), payload: good([...d.fields(), file('pic\u0000ture.png', d.bytes, d.type)]) },
    { name: 'control characters and a path in the file name', contentType: ct(b), payload: good([...d.fields(), file('../../etc/\u0007\u001b[31mpasswd\r.png', d.bytes, d.type)]) },
    { name: 'a 10 000-character file name', contentType: ct(b), payload: good([...d.fields(), file(`${'n'.repeat(10_000)}.png`, d.bytes, d.type)]) },
    { name: 'invalid UTF-8 in the file name', contentType: ct(b), payload: good([...d.fields(), file(Buffer.from([0x66, 0xff, 0xfe, 0xc3, 0x28, 0x2e, 0x70, 0x6e, 0x67]), d.bytes, d.type)]) },
    { name: 'an encoded surrogate in the file name', contentType: ct(b), payload: good([...d.fields(), file(Buffer.from([0x61, 0xed, 0xa0, 0x80, 0x2e, 0x70, 0x6e, 0x67]), d.bytes, d.type)]) },
    {
      name: "filename* with %00 and a bad escape",
      contentType: ct(b),
      payload: good([...d.fields(), { headers: [`Content-Disposition: form-data; name="file"; filename*=UTF-8''a%00b%ZZ.png`, `Content-Type: ${d.type}`], body: d.bytes }]),
    },
    { name: 'a NUL in a field name', contentType: ct(b), payload: good([field(Buffer.from('contact\u0000Id'), 'x'), ...d.fields(), file(d.filename, d.bytes, d.type)]) },
    { name: 'a NUL in a field value', contentType: ct(b), payload: good([...d.fields().map((p) => ({ ...p, body: Buffer.concat([Buffer.from(String(p.body)), Buffer.from([0])]) })), file(d.filename, d.bytes, d.type)]) },
    { name: 'a 100 KB part header', contentType: ct(b), payload: good([...d.fields(), { headers: [`Content-Disposition: form-data; name="file"; filename="a.png"`, `X-Junk: ${'j'.repeat(100_000)}`], body: d.bytes }]) },
    { name: '5 000 part headers', contentType: ct(b), payload: good([...d.fields(), { headers: [`Content-Disposition: form-data; name="file"; filename="a.png"`, ...Array.from({ length: 5000 }, (_, i) => `X-H${i}: v`)], body: d.bytes }]) },
    { name: 'a part header without a colon', contentType: ct(b), payload: good([...d.fields(), { headers: ['Content-Disposition form-data name=file', 'garbage'], body: d.bytes }]) },
    { name: 'no Content-Disposition', contentType: ct(b), payload: good([...d.fields(), { headers: [`Content-Type: ${d.type}`], body: d.bytes }]) },
    { name: 'a junk part Content-Type', contentType: ct(b), payload: good([...d.fields(), file(d.filename, d.bytes, `\u0000/${'z'.repeat(5000)}; charset=\u00ff`)]) },
    { name: 'bare LF line ends', contentType: ct(b), payload: body(b, [...d.fields(), file(d.filename, d.bytes, d.type)], '\n') },
    { name: 'no closing boundary', contentType: ct(b), payload: body(b, [...d.fields(), file(d.filename, d.bytes, d.type)], '\r\n', false) },
    { name: 'cut in the middle of the file', contentType: ct(b), payload: good().subarray(0, good().length - Math.floor(d.bytes.length / 2)) },
    { name: 'cut inside the part headers', contentType: ct(b), payload: good().subarray(0, good().indexOf('filename') + 3) },
    { name: 'only the closing boundary', contentType: ct(b), payload: Buffer.from(`--${b}--\r\n`) },
    { name: 'an empty body', contentType: ct(b), payload: Buffer.alloc(0) },
    { name: 'a 1 MB preamble', contentType: ct(b), payload: Buffer.concat([Buffer.alloc(1_000_000, 0x70), Buffer.from('\r\n'), good()]) },
    { name: 'a part that is a multipart itself', contentType: ct(b), payload: good([...d.fields(), { headers: ['Content-Disposition: form-data; name="file"; filename="a.png"', 'Content-Type: multipart/mixed; boundary=inner'], body: body('inner', [file('b.png', d.bytes, d.type)]) }]) },
    { name: 'two files', contentType: ct(b), payload: good([...d.fields(), file(d.filename, d.bytes, d.type), file(d.filename, d.bytes, d.type)]) },
    { name: '50 fields', contentType: ct(b), payload: good([...Array.from({ length: 50 }, (_, i) => field(`f${i}`, 'v')), ...d.fields(), file(d.filename, d.bytes, d.type)]) },
    { name: 'multipart/mixed instead of form-data', contentType: `multipart/mixed; boundary=${b}`, payload: good() },
    { name: 'a Content-Type with a NUL and 8-bit bytes', contentType: `multipart/form-data; boundary=${b}; charset=\u00ff`, payload: good() },
    { name: 'a huge Content-Type', contentType: `multipart/form-data; ${'p=q; '.repeat(2000)}boundary=${b}`, payload: good() },
  ];
}

/** Seeded damage to a good body: bytes flipped, NULs put in, ranges dropped or doubled, the end cut off. */
function mutate(good: Buffer, random: () => number): Buffer {
  let out = Buffer.from(good);
  const at = () => Math.floor(random() * out.length);
  const times = 1 + Math.floor(random() * 4);
  for (let i = 0; i < times; i++) {
    const kind = Math.floor(random() * 5);
    const p = at();
    if (kind === 0) out[p] = Math.floor(random() * 256);
    else if (kind === 1) out = Buffer.concat([out.subarray(0, p), Buffer.from([0]), out.subarray(p)]);
    else if (kind === 2) out = Buffer.concat([out.subarray(0, p), out.subarray(Math.min(out.length, p + 1 + Math.floor(random() * 40)))]);
    else if (kind === 3) out = Buffer.concat([out.subarray(0, p), out.subarray(p, p + Math.floor(random() * 200)), out.subarray(p)]);
    else out = out.subarray(0, p);
  }
  return out;
}

describe(`the multipart doors, fuzzed (seed ${seed}; KEFU_FUZZ_SEED=${seed} replays)`, () => {
  let t: TestKefu;
  let doors: Door[];

  beforeAll(async () => {
    t = await startTestKefu({ database: 'postgres', env: { KEFU_CHAT_UPLOAD_MAX_BYTES: String(256 * 1024), KEFU_CHAT_LIMIT_UPLOAD: '10000/60', KEFU_CHAT_LIMIT_UPLOAD_PER_ADDRESS: '10000/60' } });
    const inst = await seedInstance(t, { name: 'Fuzz' });
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(inst.adminKey, 'mutation { createSkillGroup(input: { name: "Web", channel: ONLINE }) { id } }')).createSkillGroup.id;
    const channelKey = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(inst.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group },
      })
    ).createWebChannel.webChannel.publicKey;
    const page = fromPage(() => t, origin);
    const customer = await page.customerToken(channelKey);
    const contactId = await page.startChat(customer);
    doors = [
      { url: '/chat/uploads', token: () => customer, fields: () => [field('contactId', contactId)], bytes: taggedPng(8, 8), type: 'image/png', filename: 'map.png' },
      { url: '/audio', token: () => inst.adminKey, fields: () => [field('name', 'Welcome')], bytes: wav(), type: 'audio/wav', filename: 'welcome.wav' },
      { url: '/av-icons', token: () => inst.adminKey, fields: () => [], bytes: taggedPng(16, 16), type: 'image/png', filename: 'icon.png' },
    ];
  }, 240_000);
  afterAll(async () => {
    await t?.close();
  });

  async function send(d: Door, c: Case) {
    const res = await t.kefu.app.inject({ method: 'POST', url: d.url, headers: { 'content-type': c.contentType, origin, authorization: `Bearer ${d.token()}`, ...c.headers }, payload: c.payload });
    return answerOf(res);
  }

  /** A 2xx whose names are storable text, or a 4xx with a JSON error code; never a 5xx. What else it was, or null. */
  function unclear(d: Door, c: Case, r: Awaited<ReturnType<typeof send>>): string | null {
    const what = `${d.url}, ${c.name}: ${r.status} ${r.text.slice(0, 300)}`;
    if (r.status >= 500) return what;
    if (r.status >= 400) return /^[A-Z_]+$/.test(String((r.json?.error as { code?: unknown } | undefined)?.code)) ? null : what;
    if (r.status !== 201) return what;
    const name = r.json?.name;
    // eslint-disable-next-line no-control-regex -- control characters are what a stored name must not hold
    return typeof name === 'string' && /[\u0000-\u001f\u007f]|[\ud800-\udfff]/.test(name) ? what : null;
  }

  it('answers each hand-picked odd body clearly', async () => {
    const problems: (string | null)[] = [];
    for (const d of doors) {
      // The good body first: the door takes it.
      const ok = await send(d, { name: 'good', contentType: 'multipart/form-data; boundary=kefuBoundary', payload: body('kefuBoundary', [...d.fields(), file(d.filename, d.bytes, d.type)]) });
      expect(ok.status, `${d.url}: ${ok.text}`).toBe(201);
      for (const c of cases(d)) problems.push(unclear(d, c, await send(d, c)));
    }
    expect(problems.filter((p) => p !== null)).toEqual([]);
    expect((await t.kefu.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  }, 180_000);

  it('answers seeded mutations of a good body clearly', async () => {
    const random = seededRandom(seed);
    const problems: (string | null)[] = [];
    for (const d of doors) {
      const good = body('kefuBoundary', [...d.fields(), file(d.filename, d.bytes, d.type)]);
      for (let i = 0; i < 60; i++) {
        const c = { name: `mutation ${i}`, contentType: 'multipart/form-data; boundary=kefuBoundary', payload: mutate(good, random) };
        problems.push(unclear(d, c, await send(d, c)));
      }
    }
    expect(problems.filter((p) => p !== null)).toEqual([]);
    expect((await t.kefu.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  }, 300_000);
});

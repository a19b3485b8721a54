// Chat uploads (OL-15) through the HTTP API: a customer's phone photo with GPS in its EXIF is served without
// it and with a thumbnail; the type comes from the content (a PDF named .png is a PDF; text named .png is
// refused); too large, another customer's chat, an ended chat, API keys and agents not holding the chat are
// refused; signed links expire and cannot be altered; files are sent in the chat and shown with links.
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPage } from '../support/chat.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { chatFileLinkKey, signedChatFileLink } from '../../src/adapters/chat-files/chat-files.ts';
import { phoneJpeg, secret, taggedPng, tinyPdf } from '../support/chat-images.ts';

const origin = 'https://shop.example';
const maxBytes = 64 * 1024;

interface UploadAnswer {
  fileId: string;
  name: string;
  contentType: string;
  bytes: number;
  width: number | null;
  height: number | null;
  url: string;
  thumbnailUrl: string | null;
  error?: { code: string; message: string };
}

async function multipart(fields: Record<string, string>, file?: { bytes: Uint8Array; filename: string; type: string }) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file) form.append('file', new Blob([Buffer.from(file.bytes)], { type: file.type }), file.filename);
  const request = new Request('http://kefu.test/chat/uploads', { method: 'POST', body: form });
  return { payload: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get('content-type')! };
}

for (const database of ['pglite', 'postgres'] as const) {
  describe(`chat uploads (${database})`, () => {
    let t: TestKefu;
    let seed: Awaited<ReturnType<typeof seedInstance>>;
    let channelKey: string;
    const ann = () => seed.agents[0]!;
    const bob = () => seed.agents[1]!;

    const { ok: gql, startChat } = fromPage(() => t, origin);
    const customer = async (name = 'Carl Customer') =>
      (await gql<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey, name } })).startCustomerSession.token;

    const upload = async (token: string | null, fields: Record<string, string>, file?: { bytes: Uint8Array; filename: string; type: string }) => {
      const body = await multipart(fields, file);
      const res = await t.kefu.app.inject({
        method: 'POST',
        url: '/chat/uploads',
        headers: { 'content-type': body.contentType, origin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        payload: body.payload,
      });
      return { status: res.statusCode, body: res.json() as UploadAnswer, headers: res.headers };
    };
    /** As a browser fetches it: with a token, from the page's origin (a customer's token works from the channel's origins only). */
    const get = (url: string, token?: string) => t.kefu.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}`, origin } : {} });
    const storedFiles = (instanceId: string) => {
      const dir = path.join(t.kefu.config.KEFU_DATA_DIR, 'chat-files', instanceId);
      return existsSync(dir) ? readdirSync(dir).filter((f) => !f.endsWith('.part')) : [];
    };

    /** Makes the agent available and accepts the chat's offer. */
    async function takes(agent: { token: string }, contactId: string): Promise<void> {
      await t.ok(agent.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      const offered = await until(
        () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(agent.token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }).catch(() => null),
        (r) => r?.contact.status === 'OFFERED',
      );
      await t.ok(agent.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
    }

    beforeAll(async () => {
      t = await startTestKefu({ database, env: { KEFU_CHAT_UPLOAD_MAX_BYTES: String(maxBytes), KEFU_CHAT_LIMIT_UPLOAD: '6/60', KEFU_CHAT_LIMIT_CHAT: '1000/3600' } });
      seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
      const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Chat', channel: 'ONLINE', maxConcurrency: 5 } })).createSkillGroup.id;
      await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann().id });
      channelKey = (
        await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
          input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group },
        })
      ).createWebChannel.webChannel.publicKey;
    }, 120_000);

    afterAll(async () => t?.close());

    it("a customer's phone photo: stored without its GPS EXIF, measured, with a thumbnail, served inline with nosniff and a CSP", async () => {
      const me = await customer();
      const chat = await startChat(me);
      const photo = phoneJpeg({ width: 640, height: 480 });
      expect(photo.includes(Buffer.from(secret))).toBe(true);
      const r = await upload(me, { contactId: chat }, { bytes: photo, filename: 'IMG_2041.JPG', type: 'image/jpeg' });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ name: 'IMG_2041.jpg', contentType: 'image/jpeg', width: 640, height: 480 });
      expect(r.body.bytes).toBeLessThan(photo.length);

      const served = await get(r.body.url);
      expect(served.statusCode).toBe(200);
      expect(served.headers['content-type']).toBe('image/jpeg');
      expect(served.headers['x-content-type-options']).toBe('nosniff');
      expect(String(served.headers['content-security-policy'])).toContain("default-src 'none'");
      expect(String(served.headers['content-disposition'])).toMatch(/^inline; filename="IMG_2041.jpg"/);
      const bytes = served.rawPayload;
      expect(bytes.length).toBe(r.body.bytes);
      // No GPS, no serial number, no EXIF at all (orientation 1), no XMP, comment or trailing data.
      for (const gone of [secret, 'Exif', 'GPS', 'http://ns.adobe.com/xap', 'Photoshop']) expect(bytes.includes(Buffer.from(gone, 'latin1'))).toBe(false);
      expect(jpeg.decode(bytes, { useTArray: true }).width).toBe(640);

      const thumb = await get(r.body.thumbnailUrl!);
      expect(thumb.statusCode).toBe(200);
      expect(thumb.headers['content-type']).toBe('image/jpeg');
      const small = jpeg.decode(thumb.rawPayload, { useTArray: true });
      expect([small.width, small.height]).toEqual([320, 240]);

      // Sent in the chat, the agent's transcript shows it with links that work.
      await gql(me, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId: chat, message: { clientMessageId: randomUUID(), fileId: r.body.fileId } } });
      type Transcript = { chatTranscript: { messages: { kind: string; attachment: { fileId: string; url: string; thumbnailUrl: string | null; width: number } | null }[] } };
      const transcript = await until(
        () => t.ok<Transcript>(seed.adminKey, 'query($c: ID!) { chatTranscript(contactId: $c) { messages { kind attachment { fileId url thumbnailUrl width } } } }', { c: chat }),
        (x) => x.chatTranscript.messages.some((m) => m.kind === 'IMAGE'),
      );
      const image = transcript.chatTranscript.messages.find((m) => m.kind === 'IMAGE');
      expect(image?.attachment).toMatchObject({ fileId: r.body.fileId, width: 640 });
      expect((await get(image!.attachment!.thumbnailUrl!)).statusCode).toBe(200);
    });

    it('the type comes from the content: a PDF named .png is a PDF (an attachment); text named .png is refused (415) and nothing is stored', async () => {
      const me = await customer();
      const chat = await startChat(me);
      const pdf = await upload(me, { contactId: chat }, { bytes: tinyPdf, filename: 'receipt.png', type: 'image/png' });
      expect(pdf.status).toBe(201);
      expect(pdf.body).toMatchObject({ contentType: 'application/pdf', name: 'receipt.pdf', width: null, height: null, thumbnailUrl: null });
      const served = await get(pdf.body.url);
      expect(served.headers['content-type']).toBe('application/pdf');
      expect(String(served.headers['content-disposition'])).toMatch(/^attachment; filename="receipt.pdf"/);
      expect(served.rawPayload.equals(tinyPdf)).toBe(true);

      const before = storedFiles(seed.instanceId).length;
      const text = await upload(me, { contactId: chat }, { bytes: Buffer.from('this is not a picture'), filename: 'holiday.png', type: 'image/png' });
      expect(text.status).toBe(415);
      expect(text.body.error).toEqual({ code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringMatching(/presented as an image/) });
      const broken = await upload(me, { contactId: chat }, { bytes: phoneJpeg().subarray(0, 700), filename: 'cut.jpg', type: 'image/jpeg' });
      expect(broken.status).toBe(415);
      expect(broken.body.error?.message).toMatch(/not a valid image/);
      const zip = await upload(me, { contactId: chat }, { bytes: Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0]), filename: 'a.zip', type: 'application/zip' });
      expect(zip.status).toBe(415);
      expect(storedFiles(seed.instanceId).length).toBe(before);
    });

    it('too large is 413; no contactId, no file or not multipart is 400; no token is 401', async () => {
      const me = await customer();
      const chat = await startChat(me);
      const before = storedFiles(seed.instanceId).length;
      const big = await upload(me, { contactId: chat }, { bytes: Buffer.alloc(maxBytes + 1, 0x41), filename: 'big.txt', type: 'text/plain' });
      expect(big.status).toBe(413);
      expect(big.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
      expect((await upload(me, {}, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' })).status).toBe(400);
      const noFile = await upload(me, { contactId: chat });
      expect(noFile.status).toBe(400);
      expect(noFile.body.error?.message).toMatch(/^file:/);
      const json = await t.kefu.app.inject({ method: 'POST', url: '/chat/uploads', headers: { 'content-type': 'application/json', origin, authorization: `Bearer ${me}` }, payload: '{}' });
      expect(json.statusCode).toBe(400);
      expect((await upload(null, { contactId: chat }, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' })).status).toBe(401);
      const crowded = await upload(me, { contactId: chat, a: '1', b: '2', c: '3', d: '4', e: '5' }, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' });
      expect(crowded.status).toBe(400);
      expect(crowded.body.error?.code).toBe('BAD_USER_INPUT');
      expect(storedFiles(seed.instanceId).length).toBe(before);
    });

    it("another customer's chat is 404 for upload and download; an ended chat is 409; API keys and agents not holding the chat are refused", async () => {
      const carl = await customer('Carl');
      const dora = await customer('Dora');
      const chat = await startChat(carl);
      const other = await upload(dora, { contactId: chat }, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' });
      expect(other.status).toBe(404);
      expect(other.body.error?.code).toBe('NOT_FOUND');
      expect((await upload(dora, { contactId: 'no-such-chat' }, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' })).status).toBe(404);
      expect((await upload(seed.adminKey, { contactId: chat }, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' })).status).toBe(403);

      const mine = await upload(carl, { contactId: chat }, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' });
      expect(mine.status).toBe(201);
      // With a bearer instead of a link: the customer and the instance's admin key see it, another customer does not.
      const plain = `/chat/files/${mine.body.fileId}`;
      expect((await get(plain, carl)).statusCode).toBe(200);
      expect((await get(plain, seed.adminKey)).statusCode).toBe(200);
      expect((await get(plain, dora)).statusCode).toBe(404);
      expect((await get(plain)).statusCode).toBe(401);
      expect((await get(`${plain}/thumbnail`, carl)).statusCode).toBe(404); // a PDF has none

      // The agent who holds the chat uploads; another agent (never offered it) cannot.
      await takes(ann(), chat);
      const fromAgent = await upload(ann().token, { contactId: chat }, { bytes: taggedPng(), filename: 'map.png', type: 'image/png' });
      expect(fromAgent.status).toBe(201);
      expect(fromAgent.body).toMatchObject({ contentType: 'image/png', width: 40, height: 30 });
      expect((await get(`/chat/files/${fromAgent.body.fileId}`, ann().token)).statusCode).toBe(200);
      expect((await upload(bob().token, { contactId: chat }, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' })).status).toBe(404);
      expect((await get(`/chat/files/${fromAgent.body.fileId}`, bob().token)).statusCode).toBe(404);

      await gql(carl, 'mutation($input: EndChatInput!) { endChat(input: $input) { status } }', { input: { contactId: chat } });
      const ended = await upload(carl, { contactId: chat }, { bytes: tinyPdf, filename: 'late.pdf', type: 'application/pdf' });
      expect(ended.status).toBe(409);
      expect(ended.body.error?.code).toBe('CONFLICT');
      expect((await upload(ann().token, { contactId: chat }, { bytes: tinyPdf, filename: 'late.pdf', type: 'application/pdf' })).status).toBe(409);
      // What was sent stays readable after the end.
      expect((await get(mine.body.url)).statusCode).toBe(200);
    });

    it('a customer over the upload limit is refused with 429 RATE_LIMITED and Retry-After; nothing is stored', async () => {
      const me = await customer('Eager');
      const chat = await startChat(me);
      for (let i = 0; i < 6; i++) expect((await upload(me, { contactId: chat }, { bytes: tinyPdf, filename: `${i}.pdf`, type: 'application/pdf' })).status).toBe(201);
      const before = storedFiles(seed.instanceId).length;
      const over = await upload(me, { contactId: chat }, { bytes: tinyPdf, filename: 'seventh.pdf', type: 'application/pdf' });
      expect(over.status).toBe(429);
      expect(over.body.error?.code).toBe('RATE_LIMITED');
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
      expect(storedFiles(seed.instanceId).length).toBe(before);
      // Another visitor is not held back by this one.
      const other = await customer('Patient');
      expect((await upload(other, { contactId: await startChat(other) }, { bytes: tinyPdf, filename: 'a.pdf', type: 'application/pdf' })).status).toBe(201);
    });

    it('a signed link that is altered, made for another file or variant, or expired is refused (403); an unknown file is 404', async () => {
      const me = await customer();
      const chat = await startChat(me);
      const a = await upload(me, { contactId: chat }, { bytes: phoneJpeg(), filename: 'a.jpg', type: 'image/jpeg' });
      const b = await upload(me, { contactId: chat }, { bytes: tinyPdf, filename: 'b.pdf', type: 'application/pdf' });
      expect((await get(a.body.url)).statusCode).toBe(200);
      const u = new URL(a.body.url, 'http://kefu.test');
      const sig = u.searchParams.get('sig')!;
      const exp = Number(u.searchParams.get('exp'));
      const withParams = (pathname: string, params: Record<string, string>) => `${pathname}?${new URLSearchParams(params).toString()}`;
      const i = u.searchParams.get('i')!;
      const flipped = `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
      const refused = [
        withParams(u.pathname, { i, exp: String(exp), sig: flipped }),
        withParams(u.pathname, { i, exp: String(exp + 3600), sig }),
        withParams(`/chat/files/${b.body.fileId}`, { i, exp: String(exp), sig }),
        withParams(`${u.pathname}/thumbnail`, { i, exp: String(exp), sig }),
        withParams(u.pathname, { i, exp: 'soon', sig }),
      ];
      for (const url of refused) {
        const res = await get(url);
        expect(res.statusCode, url).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'FORBIDDEN', message: 'This link is not valid' } });
      }
      expect((await get(withParams(`/chat/files/${randomUUID()}`, { i, exp: String(exp), sig }))).statusCode).toBe(403);
      expect((await get(withParams('/chat/files/not-a-uuid', { i, exp: String(exp), sig }))).statusCode).toBe(404);

      // A link Kefu signed two hours ago, valid for an hour: correctly signed, but expired.
      const key = await chatFileLinkKey(t.kefu.db);
      const old = signedChatFileLink({ linkKey: key, linkSeconds: 3600 }, new Date(Date.now() - 2 * 3600_000), i, a.body.fileId, 'file');
      expect(new URL(old, 'http://kefu.test').searchParams.get('sig')).not.toBe(sig);
      const expired = await get(old);
      expect(expired.statusCode).toBe(403);
      expect(expired.json()).toMatchObject({ error: { code: 'FORBIDDEN', message: expect.stringMatching(/expired/) } });
      // The same key signing now: the link works (so the refusal above was the expiry, not the key).
      expect((await get(signedChatFileLink({ linkKey: key, linkSeconds: 3600 }, new Date(), i, a.body.fileId, 'file'))).statusCode).toBe(200);
    });
  });
}

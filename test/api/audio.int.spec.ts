// Prompt audio over REST: a real 16 kHz stereo WAV is stored as 8 kHz mono, listed in GraphQL, served back
// to the instance's admins only, refused when it is not WAV (400) or too large (413), and kept while a
// flow plays it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudio } from '../../src/adapters/sip-directory/read-model-sip-directory.ts';
import { FileStorage } from '../../src/adapters/storage/file-storage.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { receptionFlow, telephonyInstance } from './telephony-fixtures.ts';

/** A PCM16 WAV of a 440 Hz tone: `seconds` long, at `rate` Hz, with `channels` channels. */
function toneWav(seconds: number, rate: number, channels: number): Uint8Array {
  const frames = Math.round(seconds * rate);
  const data = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    const s = Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 12000);
    for (let c = 0; c < channels; c++) data.writeInt16LE(s, (i * channels + c) * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return new Uint8Array(Buffer.concat([header, data]));
}

/** A multipart/form-data body, as a browser would send it. */
async function multipartBody(fields: Record<string, string>, file?: { bytes: Uint8Array; filename: string; field?: string }) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file) form.append(file.field ?? 'file', new Blob([Buffer.from(file.bytes)], { type: 'audio/wav' }), file.filename);
  const request = new Request('http://kefu.test/audio', { method: 'POST', body: form });
  return { payload: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get('content-type')! };
}

for (const database of ['pglite', 'postgres'] as const) {
  describe(`prompt audio upload (${database})`, () => {
    let t: TestKefu;
    let A: Awaited<ReturnType<typeof telephonyInstance>>;
    let B: Awaited<ReturnType<typeof telephonyInstance>>;

    const upload = async (token: string | null, fields: Record<string, string>, file?: { bytes: Uint8Array; filename: string; field?: string }) => {
      const body = await multipartBody(fields, file);
      const res = await t.kefu.app.inject({
        method: 'POST',
        url: '/audio',
        headers: { 'content-type': body.contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        payload: body.payload,
      });
      return { status: res.statusCode, body: res.json() as { id: string; name: string; durationMs: number; sampleRate: number; error?: { code: string; message: string } } };
    };
    const download = (token: string | null, id: string) =>
      t.kefu.app.inject({ method: 'GET', url: `/audio/${id}`, headers: token ? { authorization: `Bearer ${token}` } : {} });

    beforeAll(async () => {
      t = await startTestKefu({ database });
      A = await telephonyInstance(t, 'Alpha', [{ name: 'Ann', login: 'ann' }]);
      B = await telephonyInstance(t, 'Beta');
    });
    afterAll(async () => t?.close());

    it('converts a 16 kHz stereo WAV to 8 kHz mono, stores it under the instance and lists it', async () => {
      const r = await upload(A.adminKey, { name: 'Welcome' }, { bytes: toneWav(1.5, 16000, 2), filename: 'welcome-16k-stereo.wav' });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ name: 'Welcome', sampleRate: 8000 });
      expect(r.body.durationMs).toBeGreaterThanOrEqual(1490);
      expect(r.body.durationMs).toBeLessThanOrEqual(1510);
      const file = path.join(t.kefu.config.KEFU_DATA_DIR, 'audio', A.instanceId, `${r.body.id}.wav`);
      expect(existsSync(file)).toBe(true);

      const res = await download(A.adminKey, r.body.id);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('audio/wav');
      const wav = res.rawPayload;
      expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
      expect(wav.readUInt16LE(22)).toBe(1); // channels
      expect(wav.readUInt32LE(24)).toBe(8000); // sample rate
      expect(wav.readUInt16LE(34)).toBe(16); // bits per sample

      const samples = await loadAudio(new FileStorage(t.kefu.config.KEFU_DATA_DIR), A.instanceId, r.body.id);
      expect(samples).toBeInstanceOf(Int16Array);
      expect(Math.abs(samples!.length - 12000)).toBeLessThanOrEqual(10);
      expect(Math.max(...samples!.slice(1000, 2000))).toBeGreaterThan(8000); // the tone survived
      expect(await loadAudio(new FileStorage(t.kefu.config.KEFU_DATA_DIR), B.instanceId, r.body.id)).toBeNull();

      const list = await t.ok<{ audioFiles: { id: string; name: string; durationMs: number; sampleRate: number; downloadPath: string }[] }>(
        A.adminKey,
        '{ audioFiles { id name durationMs sampleRate sizeBytes createdAt downloadPath } }',
      );
      expect(list.audioFiles).toEqual([expect.objectContaining({ id: r.body.id, name: 'Welcome', sampleRate: 8000, downloadPath: `/audio/${r.body.id}` })]);
    });

    it('names the file after the uploaded file name when no name is sent', async () => {
      const r = await upload(A.adminKey, {}, { bytes: toneWav(0.2, 8000, 1), filename: 'after-hours.wav' });
      expect(r.status).toBe(201);
      expect(r.body.name).toBe('after-hours');
    });

    it('refuses what is not WAV with 400 BAD_USER_INPUT and the reason', async () => {
      const r = await upload(A.adminKey, { name: 'junk' }, { bytes: new TextEncoder().encode('ID3 this is an mp3, honestly, well not really'), filename: 'song.mp3' });
      expect(r.status).toBe(400);
      expect(r.body.error).toEqual({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/WAV/) });
      const none = await upload(A.adminKey, { name: 'nothing' });
      expect(none.status).toBe(400);
      expect(none.body.error?.code).toBe('BAD_USER_INPUT');
    });

    it('refuses from the header alone a sample rate, channel count or duration no prompt has', async () => {
      const claiming = (rate: number, channels = 1) => {
        const bytes = toneWav(1, 8000, 1);
        const view = new DataView(bytes.buffer, bytes.byteOffset);
        view.setUint16(22, channels, true);
        view.setUint32(24, rate, true);
        return bytes;
      };
      const cases: [Uint8Array, RegExp][] = [
        [claiming(1), /sample rate is 1 Hz; expected 8000 to 192000 Hz/],
        [claiming(4_000_000), /sample rate is 4000000 Hz/],
        [claiming(8000, 64), /64 channels; at most 8/],
        [claiming(8000, 0), /broken: 0 channels/],
        [toneWav(601, 8000, 1), /audio is 601\.0 s long; at most 600 s/],
      ];
      for (const [bytes, message] of cases) {
        const r = await upload(A.adminKey, { name: 'forged' }, { bytes, filename: 'forged.wav' });
        expect(r.status, String(message)).toBe(400);
        expect(r.body.error).toEqual({ code: 'BAD_USER_INPUT', message: expect.stringMatching(message) });
      }
    });

    it('decodes a large upload without stalling the event loop', async () => {
      // 30 s of 48 kHz stereo: over 3 s of converting (more on a busy machine), all on a worker thread.
      const bytes = toneWav(30, 48000, 2);
      let longestGapMs = 0;
      let last = performance.now();
      const ticker = setInterval(() => {
        const now = performance.now();
        longestGapMs = Math.max(longestGapMs, now - last);
        last = now;
      }, 10);
      try {
        const body = await multipartBody({ name: 'long' }, { bytes, filename: 'long.wav' });
        last = performance.now();
        const res = await t.kefu.app.inject({
          method: 'POST',
          url: '/audio',
          headers: { 'content-type': body.contentType, authorization: `Bearer ${A.adminKey}` },
          payload: body.payload,
        });
        expect(res.statusCode).toBe(201);
        expect((res.json() as { durationMs: number }).durationMs).toBe(30_000);
      } finally {
        clearInterval(ticker);
      }
      // On the main thread this took seconds; what is left is reading the multipart body and storing the file.
      expect(longestGapMs).toBeLessThan(1000);
    });

    it('converts uploads one at a time and refuses more than a few waiting with 429 and Retry-After', async () => {
      const body = await multipartBody({ name: 'queued' }, { bytes: toneWav(5, 48000, 2), filename: 'queued.wav' });
      const answers = await Promise.all(
        Array.from({ length: 12 }, () =>
          t.kefu.app.inject({ method: 'POST', url: '/audio', headers: { 'content-type': body.contentType, authorization: `Bearer ${A.adminKey}` }, payload: body.payload }),
        ),
      );
      const statuses = answers.map((a) => a.statusCode);
      // Each conversion takes far longer than reading a body, so the twelve arrive while the first converts.
      expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(5);
      expect(statuses.filter((s) => s === 201 || s === 429)).toHaveLength(12);
      const refused = answers.find((a) => a.statusCode === 429);
      expect(refused?.headers['retry-after']).toBe('5');
      expect((refused?.json() as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    });

    it('refuses a truncated or malformed multipart body with 400, never 500', async () => {
      const body = await multipartBody({ name: 'cut' }, { bytes: toneWav(0.5, 8000, 1), filename: 'cut.wav' });
      const send = (payload: Buffer, contentType = body.contentType) =>
        t.kefu.app.inject({ method: 'POST', url: '/audio', headers: { 'content-type': contentType, authorization: `Bearer ${A.adminKey}` }, payload });
      const bodies: [string, Buffer, string?][] = [
        ['cut in the file', body.payload.subarray(0, Math.floor(body.payload.length / 2))],
        ['cut in a part header', body.payload.subarray(0, 60)],
        ['no boundary in the content type', body.payload, 'multipart/form-data'],
        ['another boundary', body.payload, 'multipart/form-data; boundary=nothing-like-it'],
        ['garbage', Buffer.from('\u0000\r\n--\r\n\r\n'.repeat(100)), body.contentType],
      ];
      for (const [label, payload, contentType] of bodies) {
        const res = await send(payload, contentType);
        expect(res.statusCode, label).toBe(400);
        expect((res.json() as { error: { code: string } }).error.code, label).toBe('BAD_USER_INPUT');
      }
    });

    it('refuses a file over 10 MB with 413 PAYLOAD_TOO_LARGE', async () => {
      const r = await upload(A.adminKey, { name: 'huge' }, { bytes: toneWav(330, 16000, 1), filename: 'huge.wav' });
      expect(r.status).toBe(413);
      expect(r.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
      const list = await t.ok<{ audioFiles: { name: string }[] }>(A.adminKey, '{ audioFiles { name } }');
      expect(list.audioFiles.map((f) => f.name)).not.toContain('huge');
    });

    it('is for admins of the instance: 401 without a token, 403 for agents, 404 for another instance like a missing id', async () => {
      const own = await upload(A.adminKey, { name: 'Private' }, { bytes: toneWav(0.2, 8000, 1), filename: 'p.wav' });
      expect((await upload(null, { name: 'x' }, { bytes: toneWav(0.1, 8000, 1), filename: 'x.wav' })).status).toBe(401);
      const agent = await upload(A.agents[0]!.token, { name: 'x' }, { bytes: toneWav(0.1, 8000, 1), filename: 'x.wav' });
      expect(agent.status).toBe(403);
      expect(agent.body.error?.code).toBe('FORBIDDEN');
      expect((await download(null, own.body.id)).statusCode).toBe(401);
      expect((await download(A.agents[0]!.token, own.body.id)).statusCode).toBe(403);
      const foreign = await download(B.adminKey, own.body.id);
      const missing = await download(B.adminKey, randomUUID());
      expect(foreign.statusCode).toBe(404);
      expect(foreign.json()).toEqual(missing.json());
      expect((await download(A.adminKey, 'not-an-id')).statusCode).toBe(404);
      const bList = await t.ok<{ audioFiles: { id: string }[] }>(B.adminKey, '{ audioFiles { id } }');
      expect(bList.audioFiles).toEqual([]);
    });

    it('lets a flow play an uploaded file, refuses deleting it while it does, and deletes it after', async () => {
      const audio = await upload(A.adminKey, { name: 'Closed' }, { bytes: toneWav(0.5, 22050, 2), filename: 'closed.wav' });
      const withAudio = receptionFlow(A.groupId);
      (withAudio.nodes[3] as { prompt: unknown }).prompt = { audioId: audio.body.id };
      const flow = await t.ok<{ createFlow: { id: string } }>(A.adminKey, 'mutation($d: JSON!) { createFlow(input: { name: "With audio", kind: IVR, definition: $d }) { id } }', { d: withAudio });
      // B cannot name A's recording in its flows.
      const foreign = receptionFlow(B.groupId);
      (foreign.nodes[3] as { prompt: unknown }).prompt = { audioId: audio.body.id };
      const refusedForB = await t.gql(B.adminKey, 'mutation($d: JSON!) { createFlow(input: { name: "Steal", kind: IVR, definition: $d }) { id } }', { d: foreign });
      expect(refusedForB.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.3.prompt.audioId' });

      const refused = await t.gql(A.adminKey, 'mutation($id: ID!) { deleteAudio(input: { id: $id }) { id } }', { id: audio.body.id });
      expect(refused.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(refused.errors?.[0]?.message).toMatch(/With audio/);
      const bDelete = await t.gql(B.adminKey, 'mutation($id: ID!) { deleteAudio(input: { id: $id }) { id } }', { id: audio.body.id });
      expect(bDelete.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

      await t.ok(A.adminKey, 'mutation($id: ID!, $d: JSON!) { updateFlow(input: { id: $id, definition: $d }) { version } }', { id: flow.createFlow.id, d: receptionFlow(A.groupId) });
      await t.ok(A.adminKey, 'mutation($id: ID!) { deleteAudio(input: { id: $id }) { id } }', { id: audio.body.id });
      expect((await download(A.adminKey, audio.body.id)).statusCode).toBe(404);
      expect(existsSync(path.join(t.kefu.config.KEFU_DATA_DIR, 'audio', A.instanceId, `${audio.body.id}.wav`))).toBe(false);
      const list = await t.ok<{ audioFiles: { id: string }[] }>(A.adminKey, '{ audioFiles { id } }');
      expect(list.audioFiles.map((f) => f.id)).not.toContain(audio.body.id);
    });
  });
}

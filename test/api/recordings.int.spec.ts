// GET/HEAD /recordings/:id: a call's WAV, with the API's auth (header or ?access_token=), callRecords'
// visibility (an agent only their own calls), byte ranges for players, and JSON errors.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import wavefile from 'wavefile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingPath } from '../../src/adapters/storage/recording-storage.ts';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

type SeededAgent = Awaited<ReturnType<typeof seedInstance>>['agents'][0];

const { WaveFile } = wavefile;

/** One second of a 440 Hz tone, 8 kHz 16-bit mono: 16,044 bytes. */
function toneWav(): Buffer {
  const samples = Int16Array.from({ length: 8000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
  const wav = new WaveFile();
  wav.fromScratch(1, 8000, '16', samples);
  return Buffer.from(wav.toBuffer());
}

for (const database of ['pglite', 'postgres'] as const) {
  describe(`recording downloads (${database})`, () => {
    let t: TestKefu;
    let instanceId: string;
    let adminKey: string;
    let ann: SeededAgent;
    let bob: SeededAgent;
    let otherAdminKey: string;
    let contactId: string;
    let recordingId: string;
    let pendingId: string;
    const wav = toneWav();

    const get = (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') => t.kefu.app.inject({ method, url, headers });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    beforeAll(async () => {
      t = await startTestKefu({ database });
      const seeded = await seedInstance(t, { name: 'Rec', agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
      ({ instanceId, adminKey } = seeded);
      [ann, bob] = seeded.agents as [typeof ann, typeof ann];
      otherAdminKey = (await seedInstance(t, { name: 'Other', seats: 0 })).adminKey;
      const g = await t.ok<{ createSkillGroup: { id: string } }>(adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE }) { id } }');
      const groupId = g.createSkillGroup.id;
      await t.ok(adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: ann.id });
      await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');

      contactId = randomUUID();
      const command = (type: ContactCommand['type'], data: Record<string, unknown>) =>
        t.kefu.commands.handle(streams.contact(instanceId, contactId), contactDecider, {
          type,
          data: { contactId, ...data },
          metadata: { now: new Date().toISOString(), instanceId, actor: 'system:sip', correlationId: randomUUID() },
        } as ContactCommand);
      await command('CreateContact', {
        channel: 'PHONE',
        direction: 'IN',
        customer: { kind: 'PHONE', id: '+8613800000009', name: null },
        data: {},
        call: { callId: 'c-1@trunk', direction: 'IN', from: '+8613800000009', to: '+864001234567', trunkId: null, node: 'node-a' },
      });
      await command('QueueContact', { skillGroupId: groupId, priority: 0 });
      const offered = await until(
        () => t.ok<{ contact: { offer: { offerId: string } | null } }>(adminKey, 'query($id: ID!) { contact(id: $id) { offer { offerId } } }', { id: contactId }).catch(() => null),
        (r) => !!r?.contact.offer,
      );
      await command('AcceptOffer', { offerId: offered!.contact.offer!.offerId, agentId: ann.id });
      recordingId = randomUUID();
      pendingId = randomUUID();
      await command('StartRecording', { recordingId, agentId: ann.id });
      await command('StartRecording', { recordingId: pendingId, agentId: ann.id });
      // The recorder writes the file where recordingPath says, then reports it complete.
      const file = recordingPath(t.recordingsDir, instanceId, recordingId);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, wav);
      await command('EndContact', { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null });
      await command('CompleteRecording', { recordingId, durationMs: 1000, bytes: wav.length });
      await until(
        () => t.ok<{ callRecord: { recordings: { id: string; status: string }[] } }>(adminKey, 'query($id: ID!) { callRecord(contactId: $id) { recordings { id status } } }', { id: contactId }).catch(() => null),
        (r) => r?.callRecord.recordings.find((x) => x.id === recordingId)?.status === 'READY',
      );
    });
    afterAll(async () => t?.close());

    it('serves the whole WAV to the agent of the call, as the record\'s url says', async () => {
      const r = await t.ok<{ callRecord: { recording: { url: string; bytes: number } } }>(ann.token, 'query($id: ID!) { callRecord(contactId: $id) { recording { url bytes } } }', { id: contactId });
      expect(r.callRecord.recording).toEqual({ url: `/recordings/${recordingId}`, bytes: wav.length });
      const res = await get(r.callRecord.recording.url, bearer(ann.token));
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('audio/wav');
      expect(res.headers['accept-ranges']).toBe('bytes');
      expect(res.headers['content-length']).toBe(String(wav.length));
      expect(res.rawPayload.equals(wav)).toBe(true);
      // Admins and supervisors too.
      expect((await get(`/recordings/${recordingId}`, bearer(adminKey))).statusCode).toBe(200);
    });

    it('answers a byte range with 206 and Content-Range, a suffix range too', async () => {
      const part = await get(`/recordings/${recordingId}`, { ...bearer(ann.token), range: 'bytes=0-43' });
      expect(part.statusCode).toBe(206);
      expect(part.headers['content-range']).toBe(`bytes 0-43/${wav.length}`);
      expect(part.headers['content-length']).toBe('44');
      expect(part.rawPayload.equals(wav.subarray(0, 44))).toBe(true);
      expect(part.rawPayload.subarray(0, 4).toString('ascii')).toBe('RIFF');

      const tail = await get(`/recordings/${recordingId}`, { ...bearer(ann.token), range: 'bytes=-100' });
      expect(tail.statusCode).toBe(206);
      expect(tail.headers['content-range']).toBe(`bytes ${wav.length - 100}-${wav.length - 1}/${wav.length}`);
      expect(tail.rawPayload.equals(wav.subarray(wav.length - 100))).toBe(true);

      const open = await get(`/recordings/${recordingId}`, { ...bearer(ann.token), range: 'bytes=16000-' });
      expect(open.statusCode).toBe(206);
      expect(open.rawPayload.equals(wav.subarray(16000))).toBe(true);
    });

    it('answers 416 for a range past the end, and ignores a malformed one', async () => {
      const res = await get(`/recordings/${recordingId}`, { ...bearer(ann.token), range: `bytes=${wav.length + 10}-` });
      expect(res.statusCode).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${wav.length}`);
      expect(res.json()).toMatchObject({ error: { code: 'RANGE_NOT_SATISFIABLE' } });
      const malformed = await get(`/recordings/${recordingId}`, { ...bearer(ann.token), range: 'bytes=abc' });
      expect(malformed.statusCode).toBe(200);
      expect(malformed.rawPayload.length).toBe(wav.length);
    });

    it('answers HEAD with the headers and no body', async () => {
      const res = await get(`/recordings/${recordingId}`, bearer(ann.token), 'HEAD');
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBe(String(wav.length));
      expect(res.headers['content-type']).toBe('audio/wav');
      expect(res.rawPayload.length).toBe(0);
      const ranged = await get(`/recordings/${recordingId}`, { ...bearer(ann.token), range: 'bytes=10-19' }, 'HEAD');
      expect(ranged.statusCode).toBe(206);
      expect(ranged.headers['content-length']).toBe('10');
    });

    it('takes the token as ?access_token= for an <audio> element', async () => {
      const res = await get(`/recordings/${recordingId}?access_token=${encodeURIComponent(ann.token)}`);
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.equals(wav)).toBe(true);
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      const wrong = await get(`/recordings/${recordingId}?access_token=not-a-token`);
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    });

    it('answers 401 without a token, 403 to the operator', async () => {
      const res = await get(`/recordings/${recordingId}`);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
      expect((await get(`/recordings/${recordingId}`, bearer(operatorToken))).statusCode).toBe(403);
    });

    it("answers 404 alike for an unknown id, another instance's recording, a call the agent had no part in, and a malformed id", async () => {
      const unknown = await get(`/recordings/${randomUUID()}`, bearer(adminKey));
      const foreign = await get(`/recordings/${recordingId}`, bearer(otherAdminKey));
      const notHis = await get(`/recordings/${recordingId}`, bearer(bob.token));
      for (const res of [unknown, foreign, notHis]) {
        expect(res.statusCode).toBe(404);
        expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringMatching(/^Recording [0-9a-f-]{36} not found$/) } });
      }
      for (const bad of ['..%2F..%2Fetc%2Fpasswd', 'not-a-uuid']) {
        const res = await get(`/recordings/${bad}`, bearer(adminKey));
        expect(res.statusCode).toBe(404);
        expect(res.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
      }
    });

    it('answers 409 while a recording is still RECORDING', async () => {
      const res = await get(`/recordings/${pendingId}`, bearer(ann.token));
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ error: { code: 'CONFLICT', message: expect.stringContaining('still being recorded') } });
      const r = await t.ok<{ callRecord: { recordings: { id: string; status: string; url: string | null }[] } }>(
        ann.token,
        'query($id: ID!) { callRecord(contactId: $id) { recordings { id status url } } }',
        { id: contactId },
      );
      expect(r.callRecord.recordings).toEqual(
        expect.arrayContaining([
          { id: recordingId, status: 'READY', url: `/recordings/${recordingId}` },
          { id: pendingId, status: 'RECORDING', url: null },
        ]),
      );
    });

    it('builds recording paths from UUIDs only', () => {
      expect(recordingPath('/data/recordings', instanceId, recordingId)).toBe(`/data/recordings/${instanceId}/${recordingId}.wav`);
      expect(() => recordingPath('/data/recordings', instanceId, '../../etc/passwd')).toThrow(/UUID/);
      expect(() => recordingPath('/data/recordings', '..', recordingId)).toThrow(/UUID/);
    });
  });
}

// Files in a conversation (issue 11): an image uploaded to the chat is sent as an IMAGE message (a PDF as a
// FILE), with its measures and signed links for each side; a retried send of it is stored once; a file of
// another chat, or one the other side uploaded, cannot be sent (NOT_FOUND).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPage } from '../support/chat.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { taggedPng, tinyPdf } from '../support/chat-images.ts';
import { until } from '../support/until.ts';
import { noReceptionPrompts } from '../support/reception.ts';

const origin = 'https://shop.example';
const MESSAGE = 'id seq sender kind text attachment { fileId name contentType bytes width height url thumbnailUrl }';

interface Attachment {
  fileId: string;
  name: string;
  contentType: string;
  bytes: number;
  width: number | null;
  height: number | null;
  url: string;
  thumbnailUrl: string | null;
}

describe('files in a conversation', () => {
  let t: TestKefu;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let channelKey: string;
  const ann = () => seed.agents[0]!;

  const { gql, ok, startChat } = fromPage(() => t, origin);
  const customer = async () =>
    (await ok<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey, name: 'Pia' } })).startCustomerSession.token;
  const upload = async (token: string, contactId: string, file: { bytes: Uint8Array; filename: string; type: string }): Promise<string> => {
    const form = new FormData();
    form.append('contactId', contactId);
    form.append('file', new Blob([Buffer.from(file.bytes)], { type: file.type }), file.filename);
    const request = new Request('http://kefu.test/chat/uploads', { method: 'POST', body: form });
    const res = await t.kefu.app.inject({
      method: 'POST',
      url: '/chat/uploads',
      headers: { 'content-type': request.headers.get('content-type')!, origin, authorization: `Bearer ${token}` },
      payload: Buffer.from(await request.arrayBuffer()),
    });
    expect(res.statusCode).toBe(201);
    return (res.json() as { fileId: string }).fileId;
  };
  const sendFile = (token: string, contactId: string, fileId: string, clientMessageId = randomUUID()) =>
    gql<{ sendChatMessage: { seq: number; kind: string; attachment: Attachment | null } }>(token, `mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { ${MESSAGE} } }`, {
      input: { contactId, message: { clientMessageId, fileId } },
    });

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE, maxConcurrency: 5 }) { id } }')).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann().id });
    channelKey = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        // The reception prompts would add messages to the counted conversation.
        input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group, receptionPrompts: noReceptionPrompts },
      })
    ).createWebChannel.webChannel.publicKey;
  }, 120_000);
  afterAll(async () => t?.close());

  it('sends an image as IMAGE and a PDF as FILE, with links for each side; a retried send is stored once', async () => {
    const me = await customer();
    const chat = await startChat(me);
    const image = await upload(me, chat, { bytes: taggedPng(40, 30), filename: 'photo.png', type: 'image/png' });
    const clientMessageId = randomUUID();
    const sent = await sendFile(me, chat, image, clientMessageId);
    expect(sent.errors).toBeUndefined();
    expect(sent.data!.sendChatMessage).toMatchObject({ seq: 2, kind: 'IMAGE', attachment: { fileId: image, contentType: 'image/png', width: 40, height: 30 } });
    expect(sent.data!.sendChatMessage.attachment!.url).toContain(`/chat/files/${image}?`);
    expect(sent.data!.sendChatMessage.attachment!.thumbnailUrl).toContain(`/chat/files/${image}/thumbnail?`);
    expect((await sendFile(me, chat, image, clientMessageId)).data!.sendChatMessage).toEqual(sent.data!.sendChatMessage);
    // The customer's link serves the image.
    const served = await t.kefu.app.inject({ method: 'GET', url: sent.data!.sendChatMessage.attachment!.url });
    expect(served.statusCode).toBe(200);
    expect(served.headers['content-type']).toContain('image/png');

    // The agent, once holding the chat, sees it in the transcript and sends a PDF.
    await t.ok(ann().token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(ann().token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: chat }).catch(() => null),
      (r) => r?.contact.status === 'OFFERED',
    );
    await t.ok(ann().token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: chat, o: offered!.contact.offer!.offerId });
    const seen = await t.ok<{ chatTranscript: { messages: { seq: number; kind: string; attachment: Attachment | null }[] } }>(ann().token, `query($c: ID!) { chatTranscript(contactId: $c) { messages { ${MESSAGE} } } }`, { c: chat });
    expect(seen.chatTranscript.messages.find((m) => m.seq === 2)).toMatchObject({ kind: 'IMAGE', attachment: { fileId: image, name: expect.any(String) } });
    const pdf = await upload(ann().token, chat, { bytes: tinyPdf, filename: 'invoice.pdf', type: 'application/pdf' });
    const sentPdf = await sendFile(ann().token, chat, pdf);
    expect(sentPdf.errors).toBeUndefined();
    expect(sentPdf.data!.sendChatMessage).toMatchObject({ kind: 'FILE', attachment: { fileId: pdf, contentType: 'application/pdf', thumbnailUrl: null } });
  }, 180_000);

  it("refuses a file of another chat, the other side's upload and an unknown file as NOT_FOUND", async () => {
    const me = await customer();
    // The customer's earlier chat (a customer has one open chat at a time: it ends before the next starts).
    const earlier = await startChat(me);
    const elsewhere = await upload(me, earlier, { bytes: taggedPng(8, 8), filename: 'x.png', type: 'image/png' });
    await ok(me, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: earlier });
    const other = await startChat(me);
    expect(other).not.toBe(earlier);
    expect((await sendFile(me, other, elsewhere)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await sendFile(me, other, randomUUID())).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const mine = await upload(me, other, { bytes: taggedPng(8, 8), filename: 'y.png', type: 'image/png' });
    await t.ok(ann().token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(ann().token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: other }).catch(() => null),
      (r) => r?.contact.status === 'OFFERED',
    );
    await t.ok(ann().token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: other, o: offered!.contact.offer!.offerId });
    expect((await sendFile(ann().token, other, mine)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  }, 180_000);
});

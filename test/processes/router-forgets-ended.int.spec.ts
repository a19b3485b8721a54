// The router forgets a contact once it is finished for routing (ended, held by no agent, nothing of it pending): it
// kept every contact since the process started, its whole state each (a contact center's 100,000 a day). What can
// follow an end (a read mark, a rating) is ignored; a reservation of a forgotten contact landing late (a router
// that lost its lease) is still released, from the contact's stream read again.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../src/domain/decider.ts';
import { defaultSatisfactionSurvey } from '../../src/domain/instance/satisfaction.ts';
import { skillGroupDecider } from '../../src/domain/skill-group/skill-group.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

interface RouterInside {
  contacts: Map<string, unknown>;
  working: Promise<void>;
}

for (const database of ['pglite', 'postgres'] as const) {
  describe(`router: ended contacts are forgotten (${database})`, () => {
    let t: TestKefu;
    beforeAll(async () => {
      t = await startTestKefu({ database });
    }, 180_000);
    afterAll(async () => t?.close());

    it('keeps no state of ended calls and chats; their later events change nothing; routing goes on', async () => {
      const instanceId = randomUUID();
      const meta = (): CommandMetadata => ({ now: new Date().toISOString(), instanceId, actor: 'test', correlationId: randomUUID() });
      const commands = new CommandHandler(t.kefu.store);
      const agentId = randomUUID();
      const groups = { PHONE: randomUUID(), ONLINE: randomUUID() };
      for (const channel of ['PHONE', 'ONLINE'] as const) {
        await commands.handle(streams.skillGroup(instanceId, groups[channel]), skillGroupDecider, {
          type: 'CreateSkillGroup',
          data: { skillGroupId: groups[channel], name: channel, channel, strategy: 'LONGEST_IDLE', maxConcurrency: 1, ringTimeoutSeconds: 600, wrapUpSeconds: 0 },
          metadata: meta(),
        });
      }
      const agentStream = streams.agent(instanceId, agentId);
      await commands.handle(agentStream, agentDecider, { type: 'CreateAgent', data: { agentId, name: 'Ann', login: agentId, passwordHash: 'x', phone: null, role: 'AGENT' }, metadata: meta() });
      for (const g of Object.values(groups)) {
        await commands.handle(streams.skillGroup(instanceId, g), skillGroupDecider, { type: 'SetSkillGroupMember', data: { skillGroupId: g, agentId, level: 1 }, metadata: meta() });
      }
      await commands.handle(agentStream, agentDecider, { type: 'SetPresence', data: { agentId, presence: 'AVAILABLE', reason: null, breakReasons: [] }, metadata: meta() });
      const agentEvents = async () => t.kefu.store.readStream(agentStream);
      const router = t.kefu.router as unknown as RouterInside;

      /** A contact queued, offered by the router, accepted: its offer. */
      const serve = async (contactId: string, channel: 'PHONE' | 'ONLINE') => {
        const stream = streams.contact(instanceId, contactId);
        await commands.handle(stream, contactDecider, {
          type: 'CreateContact',
          data: { contactId, channel, direction: 'IN', customer: { kind: 'WEB', id: randomUUID(), name: null }, data: {} },
          metadata: meta(),
        });
        await commands.handle(stream, contactDecider, { type: 'QueueContact', data: { contactId, skillGroupId: groups[channel], priority: 0 }, metadata: meta() });
        const offered = await until(
          async () => (await t.kefu.store.readStream(stream)).find((e) => e.type === 'ContactOffered'),
          (e) => e !== undefined,
          60_000,
        );
        const offerId = String(offered!.data.offerId);
        await commands.handle(stream, contactDecider, { type: 'AcceptOffer', data: { contactId, offerId, agentId }, metadata: meta() });
        await until(agentEvents, (es) => es.some((e) => e.type === 'AgentContactConnected' && e.data.contactId === contactId), 60_000);
        return { stream, offerId };
      };

      const served: { contactId: string; channel: 'PHONE' | 'ONLINE'; stream: string; offerId: string }[] = [];
      for (let i = 0; i < 6; i++) {
        const contactId = randomUUID();
        const channel = i % 2 ? ('ONLINE' as const) : ('PHONE' as const);
        const { stream, offerId } = await serve(contactId, channel);
        if (channel === 'ONLINE') {
          await commands.handle(stream, contactDecider, {
            type: 'RecordMessage',
            data: { contactId, messageId: randomUUID(), clientMessageId: null, text: 'hello', from: 'CUSTOMER', agentId: null },
            metadata: meta(),
          });
        }
        await commands.handle(stream, contactDecider, { type: 'EndContact', data: { contactId, reason: 'done', endedBy: 'AGENT', agentId }, metadata: meta() });
        await until(agentEvents, (es) => es.some((e) => e.type === 'AgentContactFinished' && e.data.contactId === contactId), 60_000);
        served.push({ contactId, channel, stream, offerId });
      }
      const kept = () => served.filter((s) => router.contacts.has(s.stream)).length;
      await until(async () => (await router.working, kept()), (n) => n === 0, 30_000);
      expect(kept()).toBe(0);

      // Late events of ended contacts: a read mark of a chat, a rating of a call. Accepted, nothing kept, nothing thrown.
      const chat = served.find((s) => s.channel === 'ONLINE')!;
      await commands.handle(chat.stream, contactDecider, { type: 'MarkMessagesRead', data: { contactId: chat.contactId, by: 'CUSTOMER', agentId: null, seq: 1 }, metadata: meta() });
      const call = served.find((s) => s.channel === 'PHONE')!;
      await commands.handle(call.stream, contactDecider, {
        type: 'RateContact',
        data: { contactId: call.contactId, value: defaultSatisfactionSurvey.scale[0]!.value, comment: null, by: 'KEYPAD', key: '1', survey: { ...defaultSatisfactionSurvey, channels: { ONLINE: true, PHONE: true, AV: true } } },
        metadata: meta(),
      });
      expect((await t.kefu.store.readStream(chat.stream)).some((e) => e.type === 'ContactMessagesRead')).toBe(true);
      expect((await t.kefu.store.readStream(call.stream)).some((e) => e.type === 'ContactRated')).toBe(true);
      await router.working;
      expect(kept()).toBe(0);

      // A reservation of a forgotten contact landing late (a router that lost its lease, its pass still going) is
      // released as the contact has ended, as when the router still knew it.
      const staleOffer = randomUUID();
      await commands.handle(agentStream, agentDecider, {
        type: 'ReserveAgent',
        data: { agentId, contactId: chat.contactId, offerId: staleOffer, channel: 'ONLINE', skillGroupId: groups.ONLINE, maxConcurrency: 1, expiresAt: new Date(Date.now() + 600_000).toISOString() },
        metadata: meta(),
      });
      const released = await until(
        async () => (await agentEvents()).find((e) => e.type === 'AgentReservationReleased' && e.data.offerId === staleOffer),
        (e) => e !== undefined,
        60_000,
      );
      expect(released!.data.reason).toBe('CONTACT_ENDED');

      // Routing goes on: a new call is offered and served; once ended, it is forgotten too.
      const next = randomUUID();
      const { stream } = await serve(next, 'PHONE');
      await commands.handle(stream, contactDecider, { type: 'EndContact', data: { contactId: next, reason: 'done', endedBy: 'AGENT', agentId }, metadata: meta() });
      await until(async () => (await router.working, router.contacts.has(stream) || kept() > 0), (k) => !k, 30_000);
      expect(router.contacts.has(stream)).toBe(false);
      expect(kept()).toBe(0);
    }, 180_000);
  });
}

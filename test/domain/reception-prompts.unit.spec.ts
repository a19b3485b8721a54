// Reception prompts (issue 12): templates and their placeholders, the settings a channel keeps over the
// defaults (welcomeText is the welcome prompt's text), the web channel decider's checks, and the contact
// decider sending each prompt once, only while its moment lasts.
import { describe, expect, it } from 'vitest';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { ContactEvent } from '../../src/domain/contact/contact.ts';
import type { SendReceptionPrompt } from '../../src/domain/contact/reception-prompt.decide.ts';
import { ConflictError, ValidationError } from '../../src/domain/errors.ts';
import { isOpenAt } from '../../src/domain/flow/business-hours.ts';
import {
  applyReceptionPromptsChange,
  defaultPromptTexts,
  effectiveReceptionPrompts,
  renderPrompt,
  spokenDuration,
  workHoursValue,
} from '../../src/domain/web-channel/reception-prompts.ts';
import { webChannelDecider } from '../../src/domain/web-channel/web-channel.decide.ts';
import type { WebChannelEvent } from '../../src/domain/web-channel/web-channel.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

describe('renderPrompt', () => {
  it('fills placeholders', () => {
    expect(renderPrompt('You are now chatting with {agentName}.', { agentName: 'Alice' })).toBe('You are now chatting with Alice.');
  });

  it('says nothing of an unknown wait: the bracketed part goes, brackets and all', () => {
    const t = defaultPromptTexts.queueing;
    expect(renderPrompt(t, { position: '2', estimatedWait: 'about 3 minutes' })).toBe(
      'You are number 2 in the queue. The estimated wait is about 3 minutes. An agent will be with you as soon as possible.',
    );
    expect(renderPrompt(t, { position: '2', estimatedWait: null })).toBe('You are number 2 in the queue. An agent will be with you as soon as possible.');
  });

  it('keeps brackets around no placeholder, and a placeholder it was not given', () => {
    expect(renderPrompt('[Note] {position} {other}', { position: '1' })).toBe('[Note] 1 {other}');
  });

  it('says durations as people do', () => {
    expect(spokenDuration(20)).toBe('less than a minute');
    expect(spokenDuration(150)).toBe('about 3 minutes');
    expect(spokenDuration(60)).toBe('about 1 minute');
    expect(spokenDuration(3600 + 600)).toBe('about 1 hour 10 minutes');
    expect(spokenDuration(60, false)).toBe('1 minute');
    expect(spokenDuration(30, false)).toBe('30 seconds');
  });
});

describe('reception prompt settings', () => {
  it('a channel without settings has every prompt on with the default texts; welcomeText is the welcome', () => {
    const p = effectiveReceptionPrompts({ welcomeText: null });
    expect(p.welcome).toEqual({ enabled: true, text: defaultPromptTexts.welcome });
    expect(p.agentEnded).toEqual({ enabled: true, text: defaultPromptTexts.agentEnded });
    expect(p.idleReminderSeconds).toBe(60);
    expect(p.queueUpdateSeconds).toBe(30);
    expect(effectiveReceptionPrompts({ welcomeText: 'Hello there' }).welcome).toEqual({ enabled: true, text: 'Hello there' });
  });

  it('keeps only what differs from the defaults; "" or null goes back to the default text', () => {
    const a = applyReceptionPromptsChange(null, { prompts: { queueing: { enabled: false }, autoEnd: { text: 'Bye for now.' } }, idleReminderSeconds: 30 });
    expect(a.settings).toEqual({ prompts: { queueing: { enabled: false, text: null }, autoEnd: { enabled: true, text: 'Bye for now.' } }, idleReminderSeconds: 30, queueUpdateSeconds: 30 });
    const b = applyReceptionPromptsChange(a.settings, { prompts: { queueing: { enabled: true }, autoEnd: { text: '' } } });
    expect(b.settings.prompts).toEqual({});
    expect(b.settings.idleReminderSeconds).toBe(30);
    expect(effectiveReceptionPrompts({ welcomeText: null, receptionPrompts: a.settings }).queueing.enabled).toBe(false);
  });

  it('the welcome text is the channel welcomeText', () => {
    const r = applyReceptionPromptsChange(null, { prompts: { welcome: { enabled: false, text: 'Welcome!' } } });
    expect(r.welcomeText).toBe('Welcome!');
    expect(r.settings.prompts.welcome).toEqual({ enabled: false, text: null });
  });

  it.each([
    [{ prompts: { queueing: { text: 'You are {place}' } } }, 'receptionPrompts.queueing.text', /\{place\} is not a placeholder/],
    [{ prompts: { offHours: { text: 'Closed, {agentName}' } } }, 'receptionPrompts.offHours.text', /no placeholders/],
    [{ prompts: { welcome: { text: 'x'.repeat(1001) } } }, 'receptionPrompts.welcome.text', /at most 1000/],
    [{ prompts: { autoEnd: { text: 'bad \u0000' } } }, 'receptionPrompts.autoEnd.text', /NUL/],
    [{ idleReminderSeconds: 2 }, 'receptionPrompts.idleReminderSeconds', /5 to 86400/],
    [{ queueUpdateSeconds: 1.5 }, 'receptionPrompts.queueUpdateSeconds', /5 to 3600/],
  ])('refuses %j naming %s', (change, field, message) => {
    let err: unknown;
    try {
      applyReceptionPromptsChange(null, change);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
    expect((err as ValidationError).message).toMatch(message);
  });

  it('work hours are the IVR business-hours value: open inside the week, closed on a holiday', () => {
    const hours = workHoursValue.parse({ timeZone: 'Europe/Berlin', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }], holidays: ['2026-12-25'] });
    expect(isOpenAt(hours, '2026-12-04T10:00:00Z')).toBe(true); // Friday 11:00 in Berlin
    expect(isOpenAt(hours, '2026-12-04T17:30:00Z')).toBe(false); // 18:30
    expect(isOpenAt(hours, '2026-12-05T10:00:00Z')).toBe(false); // Saturday
    expect(isOpenAt(hours, '2026-12-25T10:00:00Z')).toBe(false); // holiday
    expect(workHoursValue.safeParse({ timeZone: 'Mars/Base', weekly: [] }).success).toBe(false);
  });
});

describe('web channel decider: reception prompts and work hours', () => {
  const spec = deciderSpec(webChannelDecider);
  const group = { id: 'g-1', channel: 'ONLINE' };
  const created: WebChannelEvent = {
    type: 'WebChannelCreated',
    data: { webChannelId: 'w-1', name: 'Shop', publicKey: 'wc_key', allowedOrigins: ['*'], skillGroupId: 'g-1', welcomeText: null, identitySecret: 's1' },
  };
  const hours = { timeZone: 'UTC', weekly: [{ days: ['MON' as const], open: '09:00', close: '17:00' }], holidays: [] };

  it('creates a channel with prompts and work hours; the welcome text goes to welcomeText', () => {
    const events = webChannelDecider.decide(
      {
        type: 'CreateWebChannel',
        data: {
          webChannelId: 'w-1', name: 'Shop', publicKey: 'wc_key', allowedOrigins: ['*'], skillGroupId: 'g-1', skillGroup: group, welcomeText: null, identitySecret: 's1',
          receptionPrompts: { prompts: { welcome: { text: 'Hi!' }, noAgentOnline: { enabled: false } } },
          workHours: hours,
        },
        metadata: meta(),
      },
      webChannelDecider.initialState(),
    );
    expect(events).toEqual([
      {
        type: 'WebChannelCreated',
        data: expect.objectContaining({ welcomeText: 'Hi!', workHours: hours, receptionPrompts: { prompts: { noAgentOnline: { enabled: false, text: null } }, idleReminderSeconds: 60, queueUpdateSeconds: 30 } }),
      },
    ]);
  });

  it('changes what changed, nothing when it is the same', () => {
    spec.given([created]).when({ type: 'UpdateWebChannel', data: { webChannelId: 'w-1', receptionPrompts: { prompts: { queueing: { enabled: false } } }, workHours: hours }, metadata: meta() }).then([
      { type: 'WebChannelUpdated', data: { receptionPrompts: { prompts: { queueing: { enabled: false, text: null } }, idleReminderSeconds: 60, queueUpdateSeconds: 30 }, workHours: hours } },
    ]);
    spec.given([created]).when({ type: 'UpdateWebChannel', data: { webChannelId: 'w-1', receptionPrompts: { prompts: { queueing: { enabled: true } } }, workHours: null }, metadata: meta() }).then([]);
    spec.given([created]).when({ type: 'UpdateWebChannel', data: { webChannelId: 'w-1', receptionPrompts: { prompts: { welcome: { text: 'Hello' } } } }, metadata: meta() }).then([
      { type: 'WebChannelUpdated', data: { welcomeText: 'Hello' } },
    ]);
  });

  it('refuses a range that opens when it closes', () => {
    spec
      .given([created])
      .when({ type: 'UpdateWebChannel', data: { webChannelId: 'w-1', workHours: { ...hours, weekly: [{ days: ['MON'], open: '09:00', close: '09:00' }] } }, metadata: meta() })
      .thenThrows(ValidationError, /workHours\.weekly\.0\.close/);
  });
});

describe('contact decider: SendReceptionPrompt', () => {
  const spec = deciderSpec(contactDecider);
  const contactId = 'chat-1';
  const T0 = '2026-12-04T09:00:00.000Z';
  const T1 = '2026-12-04T09:00:05.000Z';
  const T2 = '2026-12-04T09:01:00.000Z';
  const source = { kind: 'WEB' as const, webChannelId: 'w-1', clientChatId: 'c-1', verified: false, pageUrl: null, referrer: null, userAgent: null, address: null };
  const created: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'ONLINE', direction: 'IN', customer: { kind: 'WEB', id: 'v1', name: null }, data: {}, createdAt: T0, source } };
  const systemMessage = (seq: number, type: 'QUEUED' | 'CONNECTED' | 'ENDED', agentId: string | null = null): ContactEvent => ({
    type: 'ContactMessageRecorded',
    data: { messageId: `${contactId}:${seq}`, from: 'SYSTEM', agentId, text: '', at: T0, seq, clientMessageId: null, kind: 'SYSTEM', attachment: null, system: { type, agentId, endStatus: null } },
  });
  const queued: ContactEvent[] = [created, { type: 'ContactQueued', data: { skillGroupId: 'g-1', priority: 0, queuedAt: T0 } }, systemMessage(1, 'QUEUED')];
  const connected: ContactEvent[] = [
    ...queued,
    { type: 'ContactOffered', data: { offerId: 'o-1', agentIds: ['alice'], expiresAt: T2, transfer: null } },
    { type: 'ContactAccepted', data: { offerId: 'o-1', agentId: 'alice', at: T1 } },
    systemMessage(2, 'CONNECTED', 'alice'),
  ];
  const agentSaid: ContactEvent = {
    type: 'ContactMessageRecorded',
    data: { messageId: 'm-1', from: 'AGENT', agentId: 'alice', text: 'Anything else?', at: T1, seq: 3, clientMessageId: 'c-1', kind: 'TEXT', attachment: null, system: null },
  };
  const send = (prompt: SendReceptionPrompt['data']['prompt'], key: string, text: string, extra: Partial<SendReceptionPrompt['data']> = {}): SendReceptionPrompt => ({
    type: 'SendReceptionPrompt',
    data: { contactId, prompt, key, text, agentId: null, ...extra },
    metadata: meta({ now: T2 }),
  });
  const promptEvent = (seq: number, prompt: string, key: string, text: string, agentId: string | null = null): ContactEvent =>
    ({
      type: 'ContactMessageRecorded',
      data: { messageId: `${contactId}:${seq}`, from: 'SYSTEM', agentId, text, at: T2, seq, clientMessageId: null, kind: 'SYSTEM', attachment: null, system: { type: 'PROMPT', agentId, endStatus: null, prompt, promptKey: key } },
    }) as ContactEvent;

  it('records the prompt as the next SYSTEM message, with its key', () => {
    spec.given(queued).when(send('WELCOME', 'WELCOME', 'Hi!')).then([promptEvent(2, 'WELCOME', 'WELCOME', 'Hi!')]);
  });

  it('sends a key once: again, nothing', () => {
    spec.given([...queued, promptEvent(2, 'WELCOME', 'WELCOME', 'Hi!')]).when(send('WELCOME', 'WELCOME', 'Hi!')).then([]);
  });

  it('a queue place only while the chat waits; the agent joined only while connected', () => {
    spec.given(connected).when(send('QUEUEING', 'QUEUEING:1', 'You are number 1')).then([]);
    spec.given(queued).when(send('TRANSFERRED_TO_AGENT', 'TRANSFERRED_TO_AGENT:o-1', 'Alice')).then([]);
    spec.given(connected).when(send('TRANSFERRED_TO_AGENT', 'TRANSFERRED_TO_AGENT:o-1', 'You are now chatting with Alice.', { agentId: 'alice' })).then([
      promptEvent(3, 'TRANSFERRED_TO_AGENT', 'TRANSFERRED_TO_AGENT:o-1', 'You are now chatting with Alice.', 'alice'),
    ]);
  });

  it('the idle reminder only while the agent’s last message is still unanswered', () => {
    const reminder = send('IDLE_REMINDER', `IDLE_REMINDER:${T1}`, 'Still there?', { lastAgentMessageAt: T1 });
    spec.given([...connected, agentSaid]).when(reminder).then([promptEvent(4, 'IDLE_REMINDER', `IDLE_REMINDER:${T1}`, 'Still there?')]);
    const customerSaid: ContactEvent = {
      type: 'ContactMessageRecorded',
      data: { messageId: 'm-2', from: 'CUSTOMER', agentId: null, text: 'yes', at: T2, seq: 4, clientMessageId: 'c-2', kind: 'TEXT', attachment: null, system: null },
    };
    spec.given([...connected, agentSaid, customerSaid]).when(reminder).then([]);
    spec.given(connected).when(reminder).then([]);
  });

  it('end prompts after the end; the others not', () => {
    const ended: ContactEvent[] = [...connected, { type: 'ContactEnded', data: { reason: 'agentHangUp', endedBy: 'AGENT', agentId: 'alice', at: T2 } }, systemMessage(3, 'ENDED', 'alice')];
    spec.given(ended).when(send('AGENT_ENDED', 'AGENT_ENDED', 'Alice has ended the chat.', { agentId: 'alice' })).then([promptEvent(4, 'AGENT_ENDED', 'AGENT_ENDED', 'Alice has ended the chat.', 'alice')]);
    spec.given(ended).when(send('WELCOME', 'WELCOME', 'Hi!')).then([]);
  });

  it('refuses an empty text, and a contact that is not a chat', () => {
    spec.given(queued).when(send('WELCOME', 'WELCOME', '  ')).thenThrows(ValidationError);
    const call: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'PHONE', direction: 'IN', customer: { kind: 'PHONE', id: '+1', name: null }, data: {}, createdAt: T0 } };
    spec.given([call]).when(send('WELCOME', 'WELCOME', 'Hi')).thenThrows(ConflictError);
  });

  it('a prompt is nobody’s word: it does not count for ending idle chats', () => {
    const state = [...connected, agentSaid, promptEvent(4, 'IDLE_REMINDER', `IDLE_REMINDER:${T1}`, 'Still there?')].reduce(contactDecider.evolve, contactDecider.initialState());
    expect(state.status === 'connected' && state.lastAgentMessageAt).toBe(T1);
    expect(state.status === 'connected' && state.receptionPromptKeys).toEqual([`IDLE_REMINDER:${T1}`]);
  });
});

// The contact's side of the reception prompts (issue 12): a prompt becomes a SYSTEM message of the chat,
// numbered after the messages so far, once per key. The chat-reception process sends them as the chat
// moves (src/processes/chat-reception/); a restart, a repeat or a second process sending the same key
// changes nothing, and a prompt whose moment has passed (the chat left the queue, the customer answered
// meanwhile) is not sent.
import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { textProblem } from '../values.ts';
import type { ReceptionPromptKind } from '../web-channel/reception-prompts.ts';
import type { ContactEvent, ContactState } from './contact.ts';

export interface SendReceptionPrompt {
  type: 'SendReceptionPrompt';
  data: {
    contactId: string;
    prompt: ReceptionPromptKind;
    /** Sent once per key: `QUEUEING:3`, `TRANSFERRED_TO_AGENT:<offerId>`, `IDLE_REMINDER:<lastAgentMessageAt>`. */
    key: string;
    /** The words, filled in. */
    text: string;
    /** The agent the prompt speaks of (joined, ended). */
    agentId: string | null;
    /** IDLE_REMINDER: the agent's last message the reminder is about; not sent when another came since or the customer answered. */
    lastAgentMessageAt?: string | null;
  };
  metadata: CommandMetadata;
}

/** The most a filled-in prompt holds (a template is at most 1,000 characters; an agent's name fills a placeholder). */
export const maxPromptMessageLength = 2000;

/** Prompts about the end or the refusal of a chat: sent after it. The others only while the chat is open. */
const afterTheEnd: ReadonlySet<ReceptionPromptKind> = new Set(['OFF_HOURS', 'NO_AGENT_ONLINE', 'AUTO_END', 'AGENT_ENDED']);

export function decideReceptionPrompt(command: SendReceptionPrompt, state: ContactState): ContactEvent[] {
  const { contactId, prompt, key, text, agentId } = command.data;
  if (state.status === 'none') throw new NotFoundError('Contact', contactId);
  if (state.channel !== 'ONLINE') throw new ConflictError(`Contact ${contactId} is not a chat`);
  if (key.length === 0 || key.length > 200) throw new ValidationError('key', '1 to 200 characters');
  if (text.trim() === '') throw new ValidationError('text', 'must not be empty');
  if (text.length > maxPromptMessageLength) throw new ValidationError('text', `at most ${maxPromptMessageLength} characters`);
  const problem = textProblem(text);
  if (problem) throw new ValidationError('text', problem);
  if ((state.receptionPromptKeys ?? []).includes(key)) return [];
  const ended = state.status === 'ended' || state.status === 'rejected';
  if (ended && !afterTheEnd.has(prompt)) return [];
  if (prompt === 'QUEUEING' && state.status !== 'queued') return [];
  if (prompt === 'TRANSFERRED_TO_AGENT' && state.status !== 'connected') return [];
  if (prompt === 'IDLE_REMINDER') {
    const last = command.data.lastAgentMessageAt ?? null;
    if (state.status !== 'connected' || last === null || state.lastAgentMessageAt !== last) return [];
    if (state.lastCustomerMessageAt && Date.parse(state.lastCustomerMessageAt) >= Date.parse(last)) return [];
  }
  const seq = (state.messageCount ?? 0) + 1;
  return [
    {
      type: 'ContactMessageRecorded',
      data: {
        messageId: `${contactId}:${seq}`,
        from: 'SYSTEM',
        agentId,
        text,
        at: command.metadata.now,
        seq,
        clientMessageId: null,
        kind: 'SYSTEM',
        attachment: null,
        system: { type: 'PROMPT', agentId, endStatus: null, prompt, promptKey: key },
      },
    },
  ];
}

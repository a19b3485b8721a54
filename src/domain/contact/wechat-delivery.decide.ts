// WeChat's limits as states (issue 13): an agent's message WeChat refused for good (45015 outside the 48-hour
// window, 45047 past the send quota, …) is followed in the conversation by a SYSTEM message saying so, once
// per message, so the agent sees it at once and the transcript keeps it. The WeChat outbox records it.
import type { CommandMetadata } from '../decider.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { ContactEvent, ContactState } from './contact.ts';

export interface RecordDeliveryFailure {
  type: 'RecordDeliveryFailure';
  data: {
    contactId: string;
    /** The message that was not delivered. */
    seq: number;
    agentId: string | null;
    /** WeChat's errcode, null for a failure to reach WeChat at all. */
    errorCode: number | null;
    reason: string;
  };
  metadata: CommandMetadata;
}

/** The key a failure is recorded once under (kept with the chat's other once-only SYSTEM messages). */
export const deliveryFailureKey = (seq: number) => `DELIVERY_FAILED:${seq}`;

export function decideDeliveryFailure(command: RecordDeliveryFailure, state: ContactState): ContactEvent[] {
  const { contactId, seq, agentId, errorCode, reason } = command.data;
  if (state.status === 'none') throw new NotFoundError('Contact', contactId);
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > (state.messageCount ?? 0)) throw new ValidationError('seq', 'not a message of the chat');
  const key = deliveryFailureKey(seq);
  if ((state.receptionPromptKeys ?? []).includes(key)) return [];
  const next = (state.messageCount ?? 0) + 1;
  const text = `Not delivered to WeChat (message ${seq})${errorCode === null ? '' : `, error ${errorCode}`}: ${reason}`.slice(0, 2000);
  return [
    {
      type: 'ContactMessageRecorded',
      data: {
        messageId: `${contactId}:${next}`,
        from: 'SYSTEM',
        agentId,
        text,
        at: command.metadata.now,
        seq: next,
        clientMessageId: null,
        kind: 'SYSTEM',
        attachment: null,
        system: { type: 'DELIVERY_FAILED', agentId, endStatus: null, promptKey: key },
      },
    },
  ];
}

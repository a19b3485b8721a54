// A chat conversation's messages as the contacts projection publishes them, for specs of the conversation stream.
import type { ConversationBusMessage, ConversationMessage } from '../../src/projections/contacts/contacts.projection.ts';

/** The message of `seq` in `contactId`'s conversation, text `message <seq>`. */
export const conversationMessage = (contactId: string, seq: number, sender: 'AGENT' | 'CUSTOMER' = 'CUSTOMER'): ConversationMessage => ({
  id: `m${seq}`,
  contactId,
  seq,
  clientMessageId: `c${seq}`,
  sender,
  kind: 'TEXT',
  agentId: sender === 'AGENT' ? 'a1' : null,
  text: `message ${seq}`,
  attachment: null,
  system: null,
  sentAt: '2026-12-04T09:00:00.000Z',
});

/** That message as it comes on the conversation's topic. */
export const conversationBusMessage = (contactId: string, seq: number): ConversationBusMessage => ({ kind: 'MESSAGE', contactId, message: conversationMessage(contactId, seq) });

// Who may write to a chat, answered from the contact's folded state the command handler holds, without a read
// of the contacts read model (one statement less per message on the send path, issue 11). Only a yes comes
// from here, and only for what the state tells for sure: the chat's own customer (who never changes), and the
// agent the chat is connected to (the send's append checks that again on the stream as it is). Anything else
// (not cached, another viewer, a supervisor) is asked of the read model as before.
import type { CommandHandler } from '../../adapters/eventstore/command-handler.ts';
import type { ContactState } from '../../domain/contact/contact.ts';
import { streams } from '../../domain/streams.ts';
import type { ContactRow } from '../../projections/contacts/contacts.projection.ts';

export type ChatAccessRow = Pick<ContactRow, 'instance_id' | 'id' | 'channel' | 'status' | 'web_customer_id' | 'web_verified' | 'web_channel_id' | 'agent_id' | 'served_agent_ids' | 'offer'>;

const rowStatus: Record<Exclude<ContactState['status'], 'none'>, string> = {
  created: 'CREATED',
  inFlow: 'IN_FLOW',
  queued: 'QUEUED',
  offered: 'OFFERED',
  connected: 'CONNECTED',
  ended: 'ENDED',
  rejected: 'REJECTED',
};

export type ChatWriter = { kind: 'customer'; customerId: string; verified: boolean } | { kind: 'agent'; agentId: string };

/** The access row of `contactId` as the cached state has it, if it lets `writer` write; else null (ask the read model). */
export function cachedChatAccess(commands: Pick<CommandHandler, 'peek'> | undefined, instanceId: string, contactId: string, writer: ChatWriter): ChatAccessRow | null {
  const s = commands?.peek?.<ContactState>(streams.contact(instanceId, contactId))?.state;
  if (!s || s.status === 'none' || (s.channel !== 'ONLINE' && s.channel !== 'AV')) return null;
  const web = s.source && s.source.kind !== 'WECHAT' ? s.source : null;
  if (writer.kind === 'customer') {
    if (!web || s.customer.id !== writer.customerId || web.verified !== writer.verified) return null;
  } else if (s.status !== 'connected' || s.agentId !== writer.agentId) return null;
  return {
    instance_id: instanceId,
    id: contactId,
    channel: s.channel,
    status: rowStatus[s.status],
    web_customer_id: web ? s.customer.id : null,
    web_verified: web ? web.verified : null,
    web_channel_id: web ? web.webChannelId : null,
    agent_id: s.status === 'connected' ? s.agentId : null,
    served_agent_ids: [],
    offer: null,
  };
}

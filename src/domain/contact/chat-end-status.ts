// How a chat ended, in the terms Tencent Cloud Contact Center users know from its chat records (IMCdrInfo:
// 1 normal, 3 no agent online, 100 blacklisted, 101 transferred, 108 customer timed out, 109 customer ended;
// CHANNELS.md). Read from what the contact's stream says: the ContactEnded's reason and endedBy, or the
// ContactRejected's reason, and whether the chat was ever transferred.
//
// The reasons emitted today (the contact decider, the router and the resolvers):
// - ContactEnded, endedBy SYSTEM: 'customerIdle' (EndIdleChat, OL-8), 'systemError' (a node's restart),
//   'agentDeviceLost', 'agentBusy' (calls), 'supervisorHangUp' (a supervisor ended it), flow hangups
//   ('afterHours', 'ivrEnd', 'flowError').
// - ContactEnded, endedBy AGENT ('agentHangUp' by default) or CUSTOMER ('customerHangUp' by default; an
//   integration's endContact may give its own reason): who ended it says what happened, whatever the text.
// - ContactRejected: BLACKLISTED, NO_AGENT, AFTER_HOURS, QUEUE_TIMEOUT, QUEUE_FULL.
import type { EndedBy, RejectReason } from './contact.ts';

export const chatEndStatuses = [
  'CUSTOMER_ENDED',
  'AGENT_ENDED',
  'CUSTOMER_IDLE',
  'NO_AGENT_ONLINE',
  'BLACKLISTED',
  'TRANSFERRED',
  'QUEUE_TIMEOUT',
  'SYSTEM_ERROR',
  'FLOW_ENDED',
  /** An AV call whose customer's browser went away (closed, or no media for the grace period). */
  'CUSTOMER_DISCONNECTED',
] as const;

export type ChatEndStatus = (typeof chatEndStatuses)[number];

/** A chat turned away before any agent. AFTER_HOURS: nobody is on duty; QUEUE_FULL: the queue turned it away. */
const rejectedStatus: Record<RejectReason, ChatEndStatus> = {
  BLACKLISTED: 'BLACKLISTED',
  NO_AGENT: 'NO_AGENT_ONLINE',
  AFTER_HOURS: 'NO_AGENT_ONLINE',
  QUEUE_TIMEOUT: 'QUEUE_TIMEOUT',
  QUEUE_FULL: 'QUEUE_TIMEOUT',
};

/** Ends by the system that are not failures; any other system end is SYSTEM_ERROR. */
const systemEndStatus: Record<string, ChatEndStatus> = {
  customerIdle: 'CUSTOMER_IDLE',
  // Staff ended it from the supervisor's side: an agent-side end, not a failure.
  supervisorHangUp: 'AGENT_ENDED',
  afterHours: 'NO_AGENT_ONLINE',
  queueTimeout: 'QUEUE_TIMEOUT',
  noAgentOnline: 'NO_AGENT_ONLINE',
  // A chat flow's end node (issue 12): the bot served the customer, no agent was needed (CCC's 102, ended in the flow).
  flowEnd: 'FLOW_ENDED',
  // An AV call (issue 14) whose customer's browser closed or sent no media for the grace period.
  customerDisconnected: 'CUSTOMER_DISCONNECTED',
};

/**
 * The end status of a chat; null while it is still open (neither ended nor rejected).
 *
 * A rejection says it all. An end by the system is the customer's idleness (CUSTOMER_IDLE) or one of the
 * other known system reasons, else SYSTEM_ERROR. An end by the agent or the customer of a chat that was
 * transferred on its way is TRANSFERRED (CCC's 101: the record spans the transfer; who ended it is kept
 * beside the status as endedBy); otherwise AGENT_ENDED or CUSTOMER_ENDED (a customer leaving the queue
 * before any agent took the chat is CUSTOMER_ENDED too).
 */
export function chatEndStatusOf(
  ended: { reason: string; endedBy: EndedBy } | null,
  rejected: RejectReason | null,
  transferred: boolean,
): ChatEndStatus | null {
  if (rejected) return rejectedStatus[rejected] ?? 'SYSTEM_ERROR';
  if (!ended) return null;
  if (ended.endedBy === 'SYSTEM') return Object.hasOwn(systemEndStatus, ended.reason) ? systemEndStatus[ended.reason]! : 'SYSTEM_ERROR';
  if (transferred) return 'TRANSFERRED';
  return ended.endedBy === 'AGENT' ? 'AGENT_ENDED' : 'CUSTOMER_ENDED';
}

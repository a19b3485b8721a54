// What an agent's workload should be, given the contacts it names: the router's reactions and its
// recovery after a crash are one rule. Pure: it returns the (idempotent) commands that close the gap.
import type { ActiveAgent } from '../agent/agent.ts';
import type { ContactState } from '../contact/contact.ts';

export type WorkloadFix =
  | { type: 'ReleaseReservation'; contactId: string; offerId: string; reason: 'DECLINED' | 'TIMED_OUT' | 'WITHDRAWN' | 'CONTACT_ENDED' }
  | { type: 'ConnectContact'; contactId: string }
  | { type: 'FinishContact'; contactId: string; afterCallWork: boolean };

/**
 * For each contact the agent holds: still offered to them → nothing; accepted by them → connect; gone to
 * someone else, back in the queue or ended → release or finish. `contacts` holds the contacts' states
 * (absent = not known yet: left alone). A reservation for an offer the contact has not heard of yet may be
 * a router's offer on its way: it is left alone until it expires, unless the contact can no longer take it.
 */
export function reconcileWorkload(agent: ActiveAgent, contacts: ReadonlyMap<string, ContactState>, now: string): WorkloadFix[] {
  const fixes: WorkloadFix[] = [];
  for (const [contactId, held] of Object.entries(agent.workload.contacts)) {
    const contact = contacts.get(contactId);
    if (!contact || contact.status === 'none') continue;
    if (held.state === 'offered') {
      if (contact.status === 'offered' && contact.offer.offerId === held.offerId && contact.offer.pendingAgentIds.includes(agent.id)) continue;
      if (contact.status === 'connected' && contact.agentId === agent.id) {
        fixes.push({ type: 'ConnectContact', contactId });
        continue;
      }
      // A warm transfer's target (PH-4): reserved while it rings, connected once it answers.
      const consult = contact.status === 'connected' ? contact.consult : null;
      if (consult && consult.consultId === held.offerId && consult.toAgentId === agent.id) {
        if (consult.answered) fixes.push({ type: 'ConnectContact', contactId });
        continue;
      }
      const ended = contact.status === 'ended' || contact.status === 'rejected';
      const unheardOf = contact.lastOfferId !== held.offerId && !(contact.status === 'offered' && contact.offer.offerId === held.offerId);
      if (unheardOf && !ended && contact.status !== 'connected' && Date.parse(now) < Date.parse(held.expiresAt)) continue;
      const reason = ended
        ? 'CONTACT_ENDED'
        : contact.status === 'connected'
          ? 'WITHDRAWN'
          : contact.missedAgentIds.includes(agent.id) || !contact.triedAgentIds.includes(agent.id)
            ? 'TIMED_OUT'
            : 'DECLINED';
      fixes.push({ type: 'ReleaseReservation', contactId, offerId: held.offerId, reason });
      continue;
    }
    // Connected: finished once the contact ended, or left this agent (a transfer).
    if (contact.status === 'connected' && contact.agentId === agent.id) continue;
    if (contact.status === 'connected' && contact.consult?.toAgentId === agent.id && contact.consult.answered) continue;
    // After-call work when the contact ended, or when this agent handed it over by a warm transfer.
    fixes.push({ type: 'FinishContact', contactId, afterCallWork: contact.status === 'ended' || contact.handedOverBy.includes(agent.id) });
  }
  return fixes;
}

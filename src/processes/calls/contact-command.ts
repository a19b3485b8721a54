// How a call session writes to its contact: as the SIP side ('system:sip'), correlated by the contact id, and
// treating a refused command as a lost race (the router, the API or the other party moved the contact on).
import { contactDecider, type ContactCommand } from '../../domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../domain/decider.ts';
import { DomainError } from '../../domain/errors.ts';
import type { CallDeps } from './call-deps.ts';

export function sipCommandMetadata(deps: Pick<CallDeps, 'clock'>, instanceId: string, contactId: string): CommandMetadata {
  return { now: deps.clock().toISOString(), instanceId, actor: 'system:sip', correlationId: contactId };
}

/** Applies `command` to the contact; false (logged at debug) when the contact refused it. */
export async function tryContactCommand(deps: Pick<CallDeps, 'commands' | 'logger'>, stream: string, command: ContactCommand): Promise<boolean> {
  try {
    await deps.commands.handle(stream, contactDecider, command);
    return true;
  } catch (err) {
    if (err instanceof DomainError) {
      deps.logger.debug({ err, contactId: command.data.contactId, command: command.type }, 'call command refused');
      return false;
    }
    throw err;
  }
}

import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { PhoneNumberEvent, PhoneNumberState } from './phone-number.ts';
import { evolvePhoneNumber, initialPhoneNumberState, normalizeNumber } from './phone-number.ts';

/** The instance asking is `metadata.instanceId`. */
export type PhoneNumberCommand =
  | { type: 'BindNumber'; data: { number: string; flowId: string }; metadata: CommandMetadata }
  | { type: 'UnbindNumber'; data: { number: string }; metadata: CommandMetadata };

export function decidePhoneNumber(command: PhoneNumberCommand, state: PhoneNumberState): PhoneNumberEvent[] {
  const instanceId = command.metadata.instanceId;
  switch (command.type) {
    case 'BindNumber': {
      const number = normalizeNumber(command.data.number);
      if (!number) throw new ValidationError('number', 'digits, optionally after a +, 3 to 20 of them');
      if (state.status === 'bound' && state.instanceId !== instanceId) throw new ConflictError('The number is in use');
      if (state.status === 'bound' && state.flowId === command.data.flowId && state.number === number) return [];
      return [{ type: 'NumberBound', data: { instanceId, number, flowId: command.data.flowId } }];
    }
    case 'UnbindNumber': {
      // Another instance's number answers like one that is nowhere.
      if (state.status !== 'bound' || state.instanceId !== instanceId) throw new NotFoundError('Number', command.data.number);
      return [{ type: 'NumberUnbound', data: { instanceId, number: state.number } }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const phoneNumberDecider = { initialState: initialPhoneNumberState, evolve: evolvePhoneNumber, decide: decidePhoneNumber };

import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { TrunkEvent, TrunkSettings, TrunkState } from './trunk.ts';
import { evolveTrunk, initialTrunkState } from './trunk.ts';

export type TrunkCommand =
  | { type: 'CreateTrunk'; data: TrunkSettings & { trunkId: string }; metadata: CommandMetadata }
  | { type: 'UpdateTrunk'; data: Partial<TrunkSettings> & { trunkId: string }; metadata: CommandMetadata }
  | { type: 'DeleteTrunk'; data: { trunkId: string }; metadata: CommandMetadata };

function checkSettings(s: TrunkSettings): void {
  if (s.name.trim() === '') throw new ValidationError('name', 'must not be empty');
  if (s.allowedAddresses.length === 0) throw new ValidationError('allowedAddresses', 'at least one address: a trunk is allow-listed');
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function decideTrunk(command: TrunkCommand, state: TrunkState): TrunkEvent[] {
  switch (command.type) {
    case 'CreateTrunk': {
      if (state.status !== 'none') throw new ConflictError(`Trunk ${command.data.trunkId} already exists`);
      checkSettings(command.data);
      return [{ type: 'TrunkCreated', data: command.data }];
    }
    case 'UpdateTrunk': {
      if (state.status !== 'active') throw new NotFoundError('Trunk', command.data.trunkId);
      const { trunkId: _id, ...wanted } = command.data;
      const changes: Partial<TrunkSettings> = {};
      for (const [key, value] of Object.entries(wanted) as [keyof TrunkSettings, never][]) {
        if (value !== undefined && !same(state[key], value)) changes[key] = value;
      }
      if (Object.keys(changes).length === 0) return [];
      checkSettings({ ...state, ...changes });
      return [{ type: 'TrunkUpdated', data: changes }];
    }
    case 'DeleteTrunk': {
      if (state.status === 'deleted') return [];
      if (state.status !== 'active') throw new NotFoundError('Trunk', command.data.trunkId);
      return [{ type: 'TrunkDeleted', data: {} }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const trunkDecider = { initialState: initialTrunkState, evolve: evolveTrunk, decide: decideTrunk };

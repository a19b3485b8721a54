// given(events).when(command).then(events) / .thenThrows(ErrorType): decider specifications without I/O.
import { expect } from 'vitest';
import type { CommandMetadata, DomainEvent } from '../../src/domain/decider.ts';

interface SpecDecider<State, Command, Event extends DomainEvent> {
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
  decide: (command: Command, state: State) => Event[];
}

export function deciderSpec<State, Command, Event extends DomainEvent>(decider: SpecDecider<State, Command, Event>) {
  return {
    given(events: Event[]) {
      return {
        when(command: Command) {
          const state = events.reduce(decider.evolve, decider.initialState());
          const run = () => decider.decide(command, state);
          return {
            then(expected: Event[]) {
              expect(run()).toEqual(expected);
            },
            thenThrows(errorType: new (...args: never[]) => Error, message?: RegExp) {
              let thrown: unknown;
              try {
                run();
              } catch (err) {
                thrown = err;
              }
              expect(thrown).toBeInstanceOf(errorType);
              if (message) expect((thrown as Error).message).toMatch(message);
            },
          };
        },
      };
    },
  };
}

export function meta(overrides: Partial<CommandMetadata> = {}): CommandMetadata {
  return { now: '2026-11-25T09:00:00.000Z', instanceId: 'inst-1', actor: 'test', correlationId: 'c-1', ...overrides };
}

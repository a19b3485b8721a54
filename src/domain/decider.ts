// An aggregate is a decider: pure functions from (command, state) to events, and (state, event) to state.

export interface DomainEvent<Type extends string = string, Data extends object = object> {
  type: Type;
  data: Data;
}

export interface CommandMetadata {
  /** ISO time the command is decided at; decide never reads a clock. */
  now: string;
  instanceId: string;
  /** Who asks: `operator`, `apikey:<id>`, `agent:<id>`, `system:<process>`. */
  actor: string;
  correlationId: string;
}

export interface Decider<State, Command, Event extends DomainEvent> {
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
  decide: (command: Command, state: State) => Event[];
}

export function fold<State, Event extends DomainEvent>(decider: Pick<Decider<State, never, Event>, 'initialState' | 'evolve'>, events: Event[]): State {
  return events.reduce(decider.evolve, decider.initialState());
}

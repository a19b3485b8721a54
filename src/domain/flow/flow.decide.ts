import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { ActiveFlow, FlowDefinition, FlowEvent, FlowKind, FlowState } from './flow.ts';
import { evolveFlow, initialFlowState } from './flow.ts';
import { parseChatFlowDocument } from './chat-flow-document.ts';
import { parseFlowDocument, sameFlowDocument } from './flow-document.ts';

export type FlowCommand =
  | { type: 'CreateFlow'; data: { flowId: string; name: string; kind: FlowKind; definition: unknown }; metadata: CommandMetadata }
  | { type: 'UpdateFlow'; data: { flowId: string; name?: string; definition?: unknown }; metadata: CommandMetadata }
  /**
   * `boundNumbers` / `boundWebChannels`: the phone numbers and web channels (names) bound to the flow now,
   * as the caller found them; a bound flow stays.
   */
  | { type: 'DeleteFlow'; data: { flowId: string; boundNumbers: string[]; boundWebChannels?: string[] }; metadata: CommandMetadata };

/** Parses a document in the format of its flow's kind, naming the path of any fault below `field`. */
export function parseFlowDefinition(kind: FlowKind, raw: unknown, field = 'definition'): FlowDefinition {
  return kind === 'CHAT' ? parseChatFlowDocument(raw, field) : parseFlowDocument(raw, field);
}

function active(state: FlowState, flowId: string): ActiveFlow {
  if (state.status !== 'active') throw new NotFoundError('Flow', flowId);
  return state;
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '') throw new ValidationError('name', 'must not be empty');
  return trimmed;
}

function createFlow(command: Extract<FlowCommand, { type: 'CreateFlow' }>, state: FlowState): FlowEvent[] {
  if (state.status !== 'none') throw new ConflictError(`Flow ${command.data.flowId} already exists`);
  const definition = parseFlowDefinition(command.data.kind, command.data.definition);
  return [{ type: 'FlowCreated', data: { flowId: command.data.flowId, name: checkName(command.data.name), kind: command.data.kind, definition } }];
}

/** A changed name is a rename; a changed document is a new version; the same ones change nothing. */
function updateFlow(command: Extract<FlowCommand, { type: 'UpdateFlow' }>, state: FlowState): FlowEvent[] {
  const flow = active(state, command.data.flowId);
  const events: FlowEvent[] = [];
  if (command.data.name !== undefined) {
    const name = checkName(command.data.name);
    if (name !== flow.name) events.push({ type: 'FlowRenamed', data: { name } });
  }
  if (command.data.definition !== undefined) {
    const definition = parseFlowDefinition(flow.kind, command.data.definition);
    if (!sameFlowDocument(definition, flow.definition)) events.push({ type: 'FlowVersionPublished', data: { version: flow.version + 1, definition } });
  }
  return events;
}

function deleteFlow(command: Extract<FlowCommand, { type: 'DeleteFlow' }>, state: FlowState): FlowEvent[] {
  if (state.status === 'deleted') return [];
  active(state, command.data.flowId);
  if (command.data.boundNumbers.length > 0) {
    throw new ConflictError(`The flow serves ${command.data.boundNumbers.join(', ')}; unbind the numbers first`);
  }
  const channels = command.data.boundWebChannels ?? [];
  if (channels.length > 0) throw new ConflictError(`The flow serves the web channel ${channels.join(', ')}; unbind it first`);
  return [{ type: 'FlowDeleted', data: {} }];
}

export function decideFlow(command: FlowCommand, state: FlowState): FlowEvent[] {
  switch (command.type) {
    case 'CreateFlow':
      return createFlow(command, state);
    case 'UpdateFlow':
      return updateFlow(command, state);
    case 'DeleteFlow':
      return deleteFlow(command, state);
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const flowDecider = { initialState: initialFlowState, evolve: evolveFlow, decide: decideFlow };

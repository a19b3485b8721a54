// Where a chat stands in its chat flow (OL-13): which flow, the version it started with, and the engine's
// position (with the variables collected so far). One stream per chat: `chatflowrun-<instanceId>.<contactId>`,
// so a restart finds every chat where it was. Each change names the position it started from: a step
// taken from a stale position (another node stepped the same chat meanwhile) is refused, never lost.
import type { CommandMetadata, DomainEvent } from '../decider.ts';
import { ConflictError } from '../errors.ts';
import type { ChatFlowPosition } from './chat-flow-engine.ts';
import { sameFlowDocument } from './flow-document.ts';

export type ChatFlowRunEvent =
  | DomainEvent<'ChatFlowRunStarted', { contactId: string; flowId: string; version: number; position: ChatFlowPosition }>
  | DomainEvent<'ChatFlowRunAdvanced', { position: ChatFlowPosition }>;

export type ChatFlowRunState = { status: 'none' } | { status: 'running'; contactId: string; flowId: string; version: number; position: ChatFlowPosition };

export type ChatFlowRunCommand = {
  type: 'RecordChatFlowStep';
  data: {
    contactId: string;
    flowId: string;
    version: number;
    /** The position the step started from: null for the chat's first step. */
    from: ChatFlowPosition | null;
    position: ChatFlowPosition;
  };
  metadata: CommandMetadata;
};

export const initialChatFlowRunState = (): ChatFlowRunState => ({ status: 'none' });

export function evolveChatFlowRun(state: ChatFlowRunState, event: ChatFlowRunEvent): ChatFlowRunState {
  switch (event.type) {
    case 'ChatFlowRunStarted':
      return { status: 'running', ...event.data };
    case 'ChatFlowRunAdvanced':
      return state.status === 'running' ? { ...state, position: event.data.position } : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export function decideChatFlowRun(command: ChatFlowRunCommand, state: ChatFlowRunState): ChatFlowRunEvent[] {
  const d = command.data;
  if (state.status === 'none') {
    if (d.from !== null) throw new ConflictError(`The chat ${d.contactId} has not entered a flow`);
    return [{ type: 'ChatFlowRunStarted', data: { contactId: d.contactId, flowId: d.flowId, version: d.version, position: d.position } }];
  }
  // The same step recorded again (a retry): nothing.
  if (sameFlowDocument(state.position, d.position)) return [];
  if (d.from === null || !sameFlowDocument(state.position, d.from)) throw new ConflictError(`The chat ${d.contactId} moved on in its flow meanwhile`);
  return [{ type: 'ChatFlowRunAdvanced', data: { position: d.position } }];
}

export const chatFlowRunDecider = { initialState: initialChatFlowRunState, evolve: evolveChatFlowRun, decide: decideChatFlowRun };

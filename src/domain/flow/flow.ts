// A flow (PH-15, OL-13): a named, versioned flow document. Saving a changed document publishes a new
// version; old versions stay readable. One stream per flow: `flow-<instanceId>.<flowId>`.
import type { DomainEvent } from '../decider.ts';
import type { ChatFlowDocument } from './chat-flow-document.ts';
import type { FlowDocument } from './flow-document.ts';

/** IVR: a phone number's flow (flow-document.ts); CHAT: a web channel's reception (chat-flow-document.ts). */
export const flowKinds = ['IVR', 'CHAT'] as const;
export type FlowKind = (typeof flowKinds)[number];

/** A flow's document: its kind's format. */
export type FlowDefinition = FlowDocument | ChatFlowDocument;

export type FlowEvent =
  | DomainEvent<'FlowCreated', { flowId: string; name: string; kind: FlowKind; definition: FlowDefinition }>
  | DomainEvent<'FlowRenamed', { name: string }>
  | DomainEvent<'FlowVersionPublished', { version: number; definition: FlowDefinition }>
  | DomainEvent<'FlowDeleted', Record<string, never>>;

export interface ActiveFlow {
  status: 'active';
  id: string;
  name: string;
  kind: FlowKind;
  /** The current version: 1 at creation. */
  version: number;
  definition: FlowDefinition;
}

export type FlowState = { status: 'none' } | ActiveFlow | { status: 'deleted'; id: string };

export const initialFlowState = (): FlowState => ({ status: 'none' });

export function evolveFlow(state: FlowState, event: FlowEvent): FlowState {
  switch (event.type) {
    case 'FlowCreated': {
      const d = event.data;
      return { status: 'active', id: d.flowId, name: d.name, kind: d.kind, version: 1, definition: d.definition };
    }
    case 'FlowRenamed':
      return state.status === 'active' ? { ...state, name: event.data.name } : state;
    case 'FlowVersionPublished':
      return state.status === 'active' ? { ...state, version: event.data.version, definition: event.data.definition } : state;
    case 'FlowDeleted':
      return state.status === 'active' ? { status: 'deleted', id: state.id } : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

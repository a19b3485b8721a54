// A chat's place in its flow: started once, advanced only from where it stands (a stale step is refused,
// a repeated one changes nothing).
import { describe, it } from 'vitest';
import { ConflictError } from '../../src/domain/errors.ts';
import type { ChatFlowPosition } from '../../src/domain/flow/chat-flow-engine.ts';
import { chatFlowRunDecider, type ChatFlowRunCommand, type ChatFlowRunEvent } from '../../src/domain/flow/chat-flow-run.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(chatFlowRunDecider);
const atMenu: ChatFlowPosition = { status: 'waiting', nodeId: 'menu', failures: 0, afterHours: false, now: '2026-11-23T04:00:00.000Z', variables: {} };
const atOrder: ChatFlowPosition = { ...atMenu, nodeId: 'order' };
const routed: ChatFlowPosition = { status: 'ended', outcome: { type: 'route', skillGroupId: 'g1', priority: 0 }, variables: { orderNumber: 'A1234' } };
const step = (from: ChatFlowPosition | null, position: ChatFlowPosition): ChatFlowRunCommand => ({
  type: 'RecordChatFlowStep',
  data: { contactId: 'c1', flowId: 'f1', version: 3, from, position },
  metadata: meta(),
});
const started: ChatFlowRunEvent = { type: 'ChatFlowRunStarted', data: { contactId: 'c1', flowId: 'f1', version: 3, position: atMenu } };

describe('chat flow run', () => {
  it('starts with the flow, its version and the first position', () => {
    spec.given([]).when(step(null, atMenu)).then([started]);
  });
  it('refuses a step from a position the chat never had', () => {
    spec.given([]).when(step(atMenu, atOrder)).thenThrows(ConflictError, /not entered a flow/);
    spec.given([started, { type: 'ChatFlowRunAdvanced', data: { position: atOrder } }]).when(step(atMenu, routed)).thenThrows(ConflictError, /moved on/);
    spec.given([started]).when(step(null, atOrder)).thenThrows(ConflictError, /moved on/);
  });
  it('advances from where it stands; the same step again changes nothing', () => {
    spec.given([started]).when(step(atMenu, atOrder)).then([{ type: 'ChatFlowRunAdvanced', data: { position: atOrder } }]);
    spec.given([started, { type: 'ChatFlowRunAdvanced', data: { position: atOrder } }]).when(step(atMenu, atOrder)).then([]);
    spec.given([started, { type: 'ChatFlowRunAdvanced', data: { position: atOrder } }]).when(step(atOrder, routed)).then([{ type: 'ChatFlowRunAdvanced', data: { position: routed } }]);
  });
});

// Drives the flow engine on a phone call (PH-15): performs its actions on the caller's media leg (prompts,
// key collection) and records what the caller chose. The engine decides; this task only carries keys in and
// actions out.
import type { RtpLeg } from '../../../adapters/media/media-port.ts';
import { contactDecider } from '../../../domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../../domain/decider.ts';
import type { FlowDocument } from '../../../domain/flow/flow-document.ts';
import { newFlowPosition, stepFlow, type FlowAction, type FlowInput, type FlowStep } from '../../../domain/flow/flow-engine.ts';
import { streams } from '../../../domain/streams.ts';
import type { CallDeps } from '../call-deps.ts';
import { KeyBuffer } from './key-buffer.ts';

export type IvrOutcome = Extract<FlowAction, { type: 'route' | 'hangup' }> | { type: 'gone' };

export async function runIvr(
  deps: CallDeps,
  o: { instanceId: string; contactId: string; flow: FlowDocument; leg: RtpLeg; metadata: () => CommandMetadata; gone: AbortSignal },
): Promise<IvrOutcome> {
  const stream = streams.contact(o.instanceId, o.contactId);
  const keys = new KeyBuffer(o.leg, o.gone);
  try {
    let step: FlowStep = stepFlow(o.flow, newFlowPosition(), { type: 'start', now: deps.clock().toISOString() });
    for (;;) {
      let input: FlowInput | null = null;
      for (const action of step.actions) {
        if (o.gone.aborted) return { type: 'gone' };
        switch (action.type) {
          case 'play': {
            const audio = await deps.promptAudio(o.instanceId, action.prompt);
            if (!action.bargeIn) keys.clear();
            const playback = o.leg.play(audio);
            // A key pressed during a barge-in prompt stops it and counts as the caller's answer.
            const stopOnKey = action.bargeIn ? keys.onKey(() => playback.stop()) : () => undefined;
            await Promise.race([playback.done, abortPromise(o.gone)]);
            stopOnKey();
            playback.stop();
            if (!action.bargeIn) keys.clear();
            break;
          }
          case 'collect':
            input = await keys.collect(action, deps.clock);
            break;
          case 'keyPressed':
            await deps.commands.handle(stream, contactDecider, {
              type: 'PressKey',
              data: { contactId: o.contactId, key: action.key, label: action.label },
              metadata: o.metadata(),
            });
            break;
          case 'setVariable':
            await deps.commands.handle(stream, contactDecider, {
              type: 'SetVariables',
              data: { contactId: o.contactId, variables: { [action.name]: action.value } },
              metadata: o.metadata(),
            });
            break;
          case 'route':
          case 'hangup':
            return action;
          default: {
            const unknown: never = action;
            return unknown;
          }
        }
      }
      if (o.gone.aborted) return { type: 'gone' };
      if (!input) return { type: 'hangup', reason: 'flowError' };
      step = stepFlow(o.flow, step.position, input);
    }
  } finally {
    keys.close();
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

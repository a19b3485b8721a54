// The post-call keypad survey (issue 12, CCC's post-IVR keys): after the agent hangs up, the caller hears the
// scale read out ("press 1 for Very dissatisfied, ..."), presses one key, and the key with its label is
// recorded on the contact (RateContact, by KEYPAD). No key, or one not on the scale: asked once more; then,
// a hang-up or a refusal (the contact was rated, the survey was turned off meanwhile) records nothing.
import type { RtpLeg } from '../../../adapters/media/media-port.ts';
import type { CommandMetadata } from '../../../domain/decider.ts';
import type { SatisfactionSurvey } from '../../../domain/instance/satisfaction.ts';
import { streams } from '../../../domain/streams.ts';
import type { CallDeps } from '../call-deps.ts';
import { tryContactCommand } from '../contact-command.ts';
import { KeyBuffer } from './key-buffer.ts';

/** How long the caller has to press a key after the question. */
export const surveyKeySeconds = 8;

export function surveyPromptText(survey: SatisfactionSurvey): string {
  const choices = survey.scale.map((e) => `press ${e.value} for ${e.label}`).join(', ');
  return `Please rate our service: ${choices}.`;
}

export type SurveyOutcome = { type: 'rated'; key: string; value: number; label: string } | { type: 'noAnswer' } | { type: 'gone' };

export async function runKeypadSurvey(
  deps: CallDeps,
  o: { instanceId: string; contactId: string; leg: RtpLeg; survey: SatisfactionSurvey; metadata: () => CommandMetadata; gone: AbortSignal },
): Promise<SurveyOutcome> {
  const keys = new KeyBuffer(o.leg, o.gone);
  try {
    let wrongKey = false;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (o.gone.aborted) return { type: 'gone' };
      keys.clear();
      // A key pressed while the question plays stops it and is the answer.
      await play(deps, o, keys, wrongKey ? `Sorry. ${surveyPromptText(o.survey)}` : surveyPromptText(o.survey), true);
      const input = await keys.collect({ type: 'collect', maxDigits: 1, terminator: null, timeoutSeconds: surveyKeySeconds }, deps.clock);
      if (o.gone.aborted) return { type: 'gone' };
      // No key or a key not on the scale: the question once more.
      if (input.type !== 'key') continue;
      const entry = o.survey.scale.find((e) => String(e.value) === input.key);
      wrongKey = !entry;
      if (!entry) continue;
      const rated = await tryContactCommand(deps, streams.contact(o.instanceId, o.contactId), {
        type: 'RateContact',
        data: { contactId: o.contactId, value: entry.value, comment: null, by: 'KEYPAD', key: input.key, survey: o.survey },
        metadata: o.metadata(),
      });
      if (!rated) return { type: 'noAnswer' };
      await play(deps, o, keys, 'Thank you. Goodbye.', false);
      return { type: 'rated', key: input.key, value: entry.value, label: entry.label };
    }
    return { type: 'noAnswer' };
  } finally {
    keys.close();
  }
}

async function play(deps: CallDeps, o: { instanceId: string; leg: RtpLeg; gone: AbortSignal }, keys: KeyBuffer, text: string, bargeIn: boolean): Promise<void> {
  const audio = await deps.promptAudio(o.instanceId, { text });
  if (o.gone.aborted) return;
  const playback = o.leg.play(audio);
  const stopOnKey = bargeIn ? keys.onKey(() => playback.stop()) : () => undefined;
  await Promise.race([playback.done, new Promise<void>((resolve) => (o.gone.aborted ? resolve() : o.gone.addEventListener('abort', () => resolve(), { once: true })))]);
  stopOnKey();
  playback.stop();
}

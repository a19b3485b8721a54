// Satisfaction surveys (issue 12): the rating scale an instance offers (each value with its label, as CCC's
// satisfaction { id, label }) and which channels ask for a rating when a contact ends. A value is a key of
// the phone keypad (0..9), so the same scale serves the chat widget's buttons and the post-call keypad survey.
import type { Channel } from '../skill-group/skill-group.ts';

export type SurveyChannel = Channel;

export interface ScaleEntry {
  value: number;
  label: string;
}

export interface SatisfactionSurvey {
  /** At least 2 entries, values 0..9, each value and each label once, in the order shown. */
  scale: ScaleEntry[];
  /** Whether contacts of the channel are asked to rate (and may rate). */
  channels: Record<SurveyChannel, boolean>;
}

export const surveyChannels: SurveyChannel[] = ['ONLINE', 'PHONE', 'AV'];

/** Five labelled stars. */
export const defaultSatisfactionScale: ScaleEntry[] = [
  { value: 1, label: 'Very dissatisfied' },
  { value: 2, label: 'Dissatisfied' },
  { value: 3, label: 'Neutral' },
  { value: 4, label: 'Satisfied' },
  { value: 5, label: 'Very satisfied' },
];

/** Chats ask by default; a phone survey keeps the caller on the line after the agent, so it is asked for. */
export const defaultSatisfactionSurvey: SatisfactionSurvey = {
  scale: defaultSatisfactionScale,
  channels: { ONLINE: true, PHONE: false, AV: true },
};

export const maxScaleEntries = 10;
export const maxScaleLabelLength = 40;
export const maxRatingCommentLength = 1000;

/** Why a scale cannot be used, as [field, message], or null. */
export function scaleProblem(scale: ScaleEntry[]): [string, string] | null {
  if (scale.length < 2) return ['scale', 'at least 2 entries'];
  if (scale.length > maxScaleEntries) return ['scale', `at most ${maxScaleEntries} entries`];
  const values = new Set<number>();
  const labels = new Set<string>();
  for (const [i, e] of scale.entries()) {
    if (!Number.isInteger(e.value) || e.value < 0 || e.value > 9) return [`scale.${i}.value`, 'must be a whole number from 0 to 9 (a key of the phone keypad)'];
    const label = e.label.trim();
    if (label.length === 0) return [`scale.${i}.label`, 'must not be empty'];
    if (label.length > maxScaleLabelLength) return [`scale.${i}.label`, `at most ${maxScaleLabelLength} characters`];
    if (values.has(e.value)) return [`scale.${i}.value`, `${e.value} is in the scale twice`];
    if (labels.has(label.toLowerCase())) return [`scale.${i}.label`, `"${label}" is in the scale twice`];
    values.add(e.value);
    labels.add(label.toLowerCase());
  }
  return null;
}

export function scaleEntryOf(survey: SatisfactionSurvey, value: number): ScaleEntry | undefined {
  return survey.scale.find((e) => e.value === value);
}

export function surveyOn(survey: SatisfactionSurvey, channel: Channel): boolean {
  return survey.channels[channel] ?? false;
}

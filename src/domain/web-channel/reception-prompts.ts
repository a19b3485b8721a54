// Reception prompts per web channel (issue 12, OL-13; CCC's chat settings in CHANNELS.md): texts the
// customer gets as SYSTEM messages at the moments of a chat's reception, each with its own switch. The
// channel keeps only what the admin chose; a prompt whose text was never set says the default below, so a
// better default reaches every channel that kept it. The welcome prompt's text is the channel's welcomeText
// (the setting that came first): both names change the same text.
//
// Texts are templates: {placeholder}s are filled when the prompt is sent; a part in [square brackets] that
// holds a placeholder is left out when that placeholder is not known (the estimated wait of a group that
// answered no chat lately), so a prompt never says "about unknown minutes".
import type { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { businessHoursNode, checkOpeningTimes } from '../flow/flow-document.ts';
import type { BusinessHours } from '../flow/business-hours.ts';
import { textProblem } from '../values.ts';

/** The prompts, in the order of a chat's life; the settings and GraphQL name them in camelCase. */
export const receptionPromptNames = ['welcome', 'queueing', 'transferredToAgent', 'noAgentOnline', 'offHours', 'idleReminder', 'autoEnd', 'agentEnded'] as const;
export type ReceptionPromptName = (typeof receptionPromptNames)[number];

/** A prompt as SYSTEM messages and the API's ReceptionPromptKind name it. */
export type ReceptionPromptKind = 'WELCOME' | 'QUEUEING' | 'TRANSFERRED_TO_AGENT' | 'NO_AGENT_ONLINE' | 'OFF_HOURS' | 'IDLE_REMINDER' | 'AUTO_END' | 'AGENT_ENDED';

export const promptKindOf: Record<ReceptionPromptName, ReceptionPromptKind> = {
  welcome: 'WELCOME',
  queueing: 'QUEUEING',
  transferredToAgent: 'TRANSFERRED_TO_AGENT',
  noAgentOnline: 'NO_AGENT_ONLINE',
  offHours: 'OFF_HOURS',
  idleReminder: 'IDLE_REMINDER',
  autoEnd: 'AUTO_END',
  agentEnded: 'AGENT_ENDED',
};

/** What each prompt may say about the moment. */
export const promptPlaceholders: Record<ReceptionPromptName, readonly string[]> = {
  welcome: [],
  queueing: ['position', 'estimatedWait'],
  transferredToAgent: ['agentName'],
  noAgentOnline: [],
  offHours: [],
  idleReminder: ['timeLeft'],
  autoEnd: [],
  agentEnded: ['agentName'],
};

export const defaultPromptTexts: Record<ReceptionPromptName, string> = {
  welcome: 'Hi! Thanks for contacting us. How can we help you today?',
  queueing: 'You are number {position} in the queue.[ The estimated wait is {estimatedWait}.] An agent will be with you as soon as possible.',
  transferredToAgent: 'You are now chatting with {agentName}.',
  noAgentOnline: 'Sorry, no agent is online right now.',
  offHours: 'We are closed right now. Please come back during our opening hours.',
  idleReminder: 'Are you still there? This chat will close in {timeLeft} if we do not hear from you.',
  autoEnd: 'This chat was closed because we did not hear from you. You can start a new chat any time.',
  agentEnded: '{agentName} has ended the chat. Thank you for contacting us!',
};

export const maxPromptTextLength = 1000;

/** A prompt as a channel keeps it: text null says the default (the welcome's text is the channel's welcomeText). */
export interface StoredPrompt {
  enabled: boolean;
  text: string | null;
}

/** What a channel keeps (in its events): the prompts changed from the defaults, and the two timings. */
export interface ReceptionPromptSettings {
  prompts: Partial<Record<ReceptionPromptName, StoredPrompt>>;
  /** The idle reminder goes this long before the group's chatIdleEndSeconds end the chat. */
  idleReminderSeconds: number;
  /** A waiting customer hears of a new place in the queue at most this often. */
  queueUpdateSeconds: number;
}

export const defaultIdleReminderSeconds = 60;
export const defaultQueueUpdateSeconds = 30;

export const defaultReceptionPromptSettings = (): ReceptionPromptSettings => ({ prompts: {}, idleReminderSeconds: defaultIdleReminderSeconds, queueUpdateSeconds: defaultQueueUpdateSeconds });

/** A prompt in effect: whether it is sent and its template. */
export interface ReceptionPrompt {
  enabled: boolean;
  text: string;
}

export type ReceptionPrompts = Record<ReceptionPromptName, ReceptionPrompt> & { idleReminderSeconds: number; queueUpdateSeconds: number };

/**
 * The prompts a channel sends: its settings over the defaults (a channel from before issue 12 has none: all
 * defaults, its welcomeText). `defaultEnabled`: whether a prompt the admin never switched is on (web channels:
 * on; WeChat accounts, issue 13: off, since each prompt spends one of WeChat's few messages per customer).
 */
export function effectiveReceptionPrompts(channel: { welcomeText: string | null; receptionPrompts?: ReceptionPromptSettings | null }, defaultEnabled = true): ReceptionPrompts {
  const settings = channel.receptionPrompts ?? defaultReceptionPromptSettings();
  const prompts = Object.fromEntries(
    receptionPromptNames.map((name) => {
      const stored = settings.prompts[name];
      const text = name === 'welcome' ? channel.welcomeText : (stored?.text ?? null);
      return [name, { enabled: stored?.enabled ?? defaultEnabled, text: text ?? defaultPromptTexts[name] }];
    }),
  ) as Record<ReceptionPromptName, ReceptionPrompt>;
  return { ...prompts, idleReminderSeconds: settings.idleReminderSeconds, queueUpdateSeconds: settings.queueUpdateSeconds };
}

/** A change an admin asks for: per prompt its switch and/or text ('' or null: back to the default), and the timings. */
export interface ReceptionPromptsChange {
  prompts?: Partial<Record<ReceptionPromptName, { enabled?: boolean | null; text?: string | null }>>;
  idleReminderSeconds?: number | null;
  queueUpdateSeconds?: number | null;
}

/**
 * The settings after `change`, and the welcome text it sets (undefined: unchanged). Refuses a text that is
 * too long, names a placeholder the prompt does not have, or a timing out of range, naming the field.
 */
export function applyReceptionPromptsChange(
  current: ReceptionPromptSettings | null | undefined,
  change: ReceptionPromptsChange,
  field = 'receptionPrompts',
  defaultEnabled = true,
): { settings: ReceptionPromptSettings; welcomeText?: string | null } {
  const base = current ?? defaultReceptionPromptSettings();
  const prompts: Partial<Record<ReceptionPromptName, StoredPrompt>> = { ...base.prompts };
  let welcomeText: string | null | undefined;
  for (const name of receptionPromptNames) {
    const c = change.prompts?.[name];
    if (!c) continue;
    const was = prompts[name] ?? { enabled: defaultEnabled, text: null };
    const next: StoredPrompt = { ...was };
    if (c.enabled !== undefined && c.enabled !== null) next.enabled = c.enabled;
    if (c.text !== undefined) {
      const text = checkPromptText(name, c.text, `${field}.${name}.text`);
      if (name === 'welcome') welcomeText = text;
      else next.text = text;
    }
    if (name === 'welcome') next.text = null;
    // Back to every default: nothing to keep.
    if (next.enabled === defaultEnabled && next.text === null) delete prompts[name];
    else prompts[name] = next;
  }
  const idleReminderSeconds = change.idleReminderSeconds ?? base.idleReminderSeconds;
  if (!Number.isInteger(idleReminderSeconds) || idleReminderSeconds < 5 || idleReminderSeconds > 86_400) {
    throw new ValidationError(`${field}.idleReminderSeconds`, 'a whole number of seconds from 5 to 86400');
  }
  const queueUpdateSeconds = change.queueUpdateSeconds ?? base.queueUpdateSeconds;
  if (!Number.isInteger(queueUpdateSeconds) || queueUpdateSeconds < 5 || queueUpdateSeconds > 3600) {
    throw new ValidationError(`${field}.queueUpdateSeconds`, 'a whole number of seconds from 5 to 3600');
  }
  const settings = { prompts, idleReminderSeconds, queueUpdateSeconds };
  return welcomeText === undefined ? { settings } : { settings, welcomeText };
}

/** A prompt's text as kept: null (the default) for '' or null; else checked. */
export function checkPromptText(name: ReceptionPromptName, text: string | null, field: string): string | null {
  if (text === null || text.trim() === '') return null;
  if (text.length > maxPromptTextLength) throw new ValidationError(field, `at most ${maxPromptTextLength} characters`);
  const problem = textProblem(text);
  if (problem) throw new ValidationError(field, problem);
  const allowed = promptPlaceholders[name];
  for (const m of text.matchAll(placeholderPattern)) {
    if (!allowed.includes(m[1]!)) {
      throw new ValidationError(field, allowed.length === 0 ? `this prompt has no placeholders ({${m[1]!}} is not one)` : `{${m[1]!}} is not a placeholder of this prompt (it has ${allowed.map((p) => `{${p}}`).join(', ')})`);
    }
  }
  return text;
}

export function sameSettings(a: ReceptionPromptSettings | null | undefined, b: ReceptionPromptSettings): boolean {
  const x = a ?? defaultReceptionPromptSettings();
  if (x.idleReminderSeconds !== b.idleReminderSeconds || x.queueUpdateSeconds !== b.queueUpdateSeconds) return false;
  return receptionPromptNames.every((n) => x.prompts[n]?.enabled === b.prompts[n]?.enabled && (x.prompts[n]?.text ?? null) === (b.prompts[n]?.text ?? null));
}

const placeholderPattern = /\{([A-Za-z]+)\}/g;

/**
 * A template with its placeholders filled. A [bracketed part] holding a placeholder whose value is null is
 * left out (with its brackets); brackets around no placeholder are kept as written. A placeholder that is
 * unknown at the top level says an empty string.
 */
export function renderPrompt(template: string, values: Record<string, string | null>): string {
  const fill = (s: string) => s.replace(placeholderPattern, (whole, name: string) => (Object.hasOwn(values, name) ? (values[name] ?? '') : whole));
  const withSections = template.replace(/\[([^[\]]*)\]/g, (whole, inner: string) => {
    const names = [...inner.matchAll(placeholderPattern)].map((m) => m[1]!);
    if (names.length === 0) return whole;
    return names.every((n) => values[n] !== null && values[n] !== undefined) ? fill(inner) : '';
  });
  return fill(withSections).trim();
}

/** A duration as a prompt says it: "about 3 minutes", "less than a minute", "about 1 hour 10 minutes". */
export function spokenDuration(seconds: number, about = true): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return about ? 'less than a minute' : `${s} second${s === 1 ? '' : 's'}`;
  const minutes = Math.round(s / 60);
  const prefix = about ? 'about ' : '';
  if (minutes < 60) return `${prefix}${minutes} minute${minutes === 1 ? '' : 's'}`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${prefix}${h} hour${h === 1 ? '' : 's'}${m > 0 ? ` ${m} minute${m === 1 ? '' : 's'}` : ''}`;
}

/** A channel's work hours: the IVR flows' business-hours value (time zone, weekly ranges, holidays). */
export const workHoursValue = businessHoursNode.pick({ timeZone: true, weekly: true, holidays: true });
export type WorkHours = BusinessHours;

/** Checks what zod cannot: no range opens at 24:00 or closes when it opens. */
export function checkWorkHours(hours: WorkHours, field = 'workHours'): WorkHours {
  checkOpeningTimes(hours, field);
  return hours;
}

export type WorkHoursInput = z.input<typeof workHoursValue>;

/** What a chat channel keeps of its reception (web channels and, issue 13, WeChat accounts: one shape). */
export interface ReceptionChannelSettings {
  welcomeText: string | null;
  receptionPrompts?: ReceptionPromptSettings | null;
  workHours?: WorkHours | null;
}

/**
 * The settings a change of a channel's reception makes, only what differs from `current` (none: {}). The
 * prompts as applyReceptionPromptsChange takes them; workHours null: always open, undefined: kept.
 */
export function receptionSettingsChange(
  current: ReceptionChannelSettings | null,
  change: { receptionPrompts?: ReceptionPromptsChange | null; workHours?: WorkHours | null },
  defaultEnabled = true,
): Partial<ReceptionChannelSettings> {
  const out: Partial<ReceptionChannelSettings> = {};
  if (change.receptionPrompts) {
    const prompts = applyReceptionPromptsChange(current?.receptionPrompts, change.receptionPrompts, 'receptionPrompts', defaultEnabled);
    if (!current || !sameSettings(current.receptionPrompts, prompts.settings)) out.receptionPrompts = prompts.settings;
    if (prompts.welcomeText !== undefined && prompts.welcomeText !== (current?.welcomeText ?? null)) out.welcomeText = prompts.welcomeText;
  }
  if (change.workHours !== undefined) {
    const workHours = change.workHours === null ? null : checkWorkHours(change.workHours);
    if (JSON.stringify(workHours) !== JSON.stringify(current?.workHours ?? null)) out.workHours = workHours;
  }
  return out;
}

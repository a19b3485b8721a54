// A web channel's audio/video call settings (issue 14, AV-1, AV-2, AV-5): which kinds of call its widget
// offers (the voice and video buttons), whether the buttons show only while someone is online, and the
// visual menu a customer chooses from before the call. A menu entry is the chat flow's chooseSkillGroup
// option (number, label, skill group: one definition, chat-flow-document.ts's skillGroupChoice) with a
// description, an icon (an image uploaded to Kefu, or an https URL) and the kinds of call it takes; it
// routes the call to its AV skill group.
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { checkChoices, skillGroupChoice } from '../flow/chat-flow-document.ts';

export const avCallKinds = ['AUDIO', 'VIDEO'] as const;
export type AvCallKind = (typeof avCallKinds)[number];

/** An entry's icon: an image uploaded with POST /av-icons (served by Kefu), or an https URL. */
export type AvMenuIcon = { fileId: string } | { url: string };

export interface AvMenuEntrySetting {
  /** The order shown (ascending); unique in the menu. */
  number: number;
  /** The entry's title. */
  label: string;
  skillGroupId: string;
  description: string | null;
  icon: AvMenuIcon | null;
  /** The kinds of call this entry takes (a subset of the channel's). */
  kinds: AvCallKind[];
}

export interface AvChannelSettings {
  /** The buttons the widget shows; [] shows none (no calls from this channel). */
  kinds: AvCallKind[];
  /** Show the buttons only while an agent of a menu entry's group is available. */
  onlyWhenAgentsOnline: boolean;
  /** The visual menu, ordered by number; [] lists every AV skill group of the instance (by name). */
  menu: AvMenuEntrySetting[];
}

export const maxAvMenuEntries = 20;
/** Icons uploaded: at most this many bytes and pixels each side. */
export const maxAvIconBytes = 64 * 1024;
export const maxAvIconPixels = 512;

const iconUrl = z
  .string()
  .max(2000, 'at most 2000 characters')
  .refine((u) => {
    try {
      const url = new URL(u);
      return url.protocol === 'https:' && url.username === '' && url.password === '';
    } catch {
      return false;
    }
  }, 'an https:// URL (without user or password)');

const kinds = z
  .array(z.enum(avCallKinds, { message: `one of ${avCallKinds.join(', ')}` }))
  .max(2, 'AUDIO, VIDEO or both')
  .transform((k) => avCallKinds.filter((x) => k.includes(x)));

/** An entry as an admin gives it: the chooseSkillGroup option's fields and the AV ones. */
export const avMenuEntrySchema = z.strictObject({
  ...skillGroupChoice,
  description: z.string().trim().max(500, 'at most 500 characters').nullish(),
  iconFileId: z.uuid({ message: 'not a valid icon id (POST /av-icons answers one)' }).nullish(),
  iconUrl: iconUrl.nullish(),
  /** Absent: the channel's kinds. */
  kinds: kinds.nullish(),
});

export const avChannelSettingsSchema = z.strictObject({
  kinds,
  onlyWhenAgentsOnline: z.boolean().nullish(),
  menu: z.array(avMenuEntrySchema).max(maxAvMenuEntries, `at most ${maxAvMenuEntries} entries`).nullish(),
});
export type AvChannelSettingsInput = z.input<typeof avChannelSettingsSchema>;

/** The skill groups an AV setting names, as the caller found them in the instance (absent or null: none). */
export type NamedGroups = ReadonlyMap<string, { id: string; channel: string } | null>;

/**
 * Checks an admin's AV settings and gives the ones kept: shape (zod, paths under `at`), unique numbers and
 * titles (as chooseSkillGroup's options), one icon at most per entry, each entry's group a live AV skill
 * group, each entry's kinds among the channel's. `iconExists` says whether an uploaded icon is there.
 */
export function checkAvChannelSettings(input: unknown, groups: NamedGroups, iconExists: (fileId: string) => boolean, at = 'av'): AvChannelSettings {
  const parsed = avChannelSettingsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError([at, ...issue.path.map(String)].join('.'), issue.message);
  }
  const d = parsed.data;
  const menu = [...(d.menu ?? [])];
  checkChoices(menu, at, 'menu');
  const entries = menu.map((e, i): AvMenuEntrySetting => {
    const path = `${at}.menu.${i}`;
    const group = groups.get(e.skillGroupId);
    if (!group) throw new ValidationError(`${path}.skillGroupId`, `no skill group ${e.skillGroupId}`);
    if (group.channel !== 'AV') throw new ValidationError(`${path}.skillGroupId`, `skill group ${e.skillGroupId} is not an AV skill group (it is ${group.channel})`);
    if (e.iconFileId && e.iconUrl) throw new ValidationError(`${path}.iconUrl`, 'an uploaded icon (iconFileId) or an icon URL, not both');
    if (e.iconFileId && !iconExists(e.iconFileId)) throw new ValidationError(`${path}.iconFileId`, `no icon ${e.iconFileId} was uploaded to this instance`);
    const entryKinds = e.kinds ?? d.kinds;
    if (entryKinds.length === 0) throw new ValidationError(`${path}.kinds`, 'at least one kind of call');
    const extra = entryKinds.find((k) => !d.kinds.includes(k));
    if (extra) throw new ValidationError(`${path}.kinds`, `${extra} calls are not among the channel's kinds (${d.kinds.join(', ') || 'none'})`);
    return {
      number: e.number,
      label: e.label,
      skillGroupId: e.skillGroupId,
      description: e.description ? e.description : null,
      icon: e.iconFileId ? { fileId: e.iconFileId } : e.iconUrl ? { url: e.iconUrl } : null,
      kinds: entryKinds,
    };
  });
  entries.sort((a, b) => a.number - b.number);
  return { kinds: d.kinds, onlyWhenAgentsOnline: d.onlyWhenAgentsOnline ?? true, menu: entries };
}

/** The skill group ids an AV setting input names (for the caller to look up before checking). */
export function avSettingsGroupIds(input: unknown): string[] {
  const menu = (input as { menu?: unknown } | null)?.menu;
  if (!Array.isArray(menu)) return [];
  return [...new Set(menu.map((e) => (e as { skillGroupId?: unknown } | null)?.skillGroupId).filter((id): id is string => typeof id === 'string'))];
}

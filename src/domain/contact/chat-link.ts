// A link card in a chat (issue 13): a title, a description, and where it leads: a web page (http/https) or a
// page of the WeChat account's mini program (its path, with a cover image). This zod value is the one
// definition of what a link may be: the API parses agents' links with it and the contact decider checks what
// it records against it, so nothing else needs its own rules.
//
// On WeChat a web link goes out as the customer-service API's link card (mini programs: `link`; official
// accounts: `news` with one article, their kind of the same card), a mini program page as `miniprogrampage`
// (thumb_media_id: the cover uploaded as temporary media when it is sent; an official account's configured card
// names the linked mini program's AppID, as its `miniprogrampage` needs). The widget and /demo/agent show a
// link as text with an anchor (never HTML).
import { z } from 'zod';
import { id, text, textProblem } from '../values.ts';

export const maxLinkTitle = 200;
export const maxLinkDescription = 500;
export const maxLinkUrl = 2000;
export const maxPagePath = 500;

/** C0 and C1 control characters (tabs and line breaks too): never in a title, an address or a path. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/;
/** A description may break lines, nothing else. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const controlButNewline = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const noControls = (pattern: RegExp) => (v: string, ctx: z.RefinementCtx) => {
  if (pattern.test(v)) ctx.addIssue({ code: 'custom', message: 'must not contain control characters' });
};

/** An absolute http or https address, as written (no credentials in it). */
function webAddress(v: string, ctx: z.RefinementCtx): void {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute http or https address' });
    return;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must be an http or https address' });
  else if (u.username !== '' || u.password !== '') ctx.addIssue({ code: 'custom', message: 'must not carry a user name or password' });
  else if (u.hostname === '') ctx.addIssue({ code: 'custom', message: 'must name a host' });
}

/** An absolute http or https address without credentials, at most maxLinkUrl characters (a link's url and thumbUrl). */
export const linkUrlValue = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(maxLinkUrl, `at most ${maxLinkUrl} characters`)
  .superRefine(noControls(controlCharacter))
  .superRefine(webAddress);

/** A mini program page as app.json names it, with its query: `pages/order/detail?id=42`. */
export const pagePathValue = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(maxPagePath, `at most ${maxPagePath} characters`)
  .superRefine(noControls(controlCharacter))
  .refine((v) => /^[A-Za-z0-9_\-./]+(\?[A-Za-z0-9_\-.~%=&+:,/]*)?$/.test(v) && !v.startsWith('/') && !v.split('?')[0]!.split('/').includes('..'), {
    message: 'must be a page path of the mini program as app.json names it (pages/index/index, optionally ?key=value&…)',
  });

export const linkTitleValue = text({ max: maxLinkTitle }).superRefine(noControls(controlCharacter));
/** A mini program's AppID (an official account's card opens a linked mini program): `wx` and 16 hexadecimal digits. */
export const miniProgramAppIdValue = z.string().regex(/^wx[0-9a-f]{16}$/, 'must be the mini program\'s AppID: wx followed by 16 lower-case hexadecimal digits');
/** A WeChat media_id (a permanent image material's, for a configured mini program card's cover). */
export const mediaIdValue = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be a WeChat media_id (letters, digits, _ and -, at most 128)');
/** A link's description: at most maxLinkDescription characters, line breaks but no other control characters. */
export const linkDescriptionValue = z
  .string()
  .trim()
  .max(maxLinkDescription, `at most ${maxLinkDescription} characters`)
  .superRefine((v, ctx) => {
    const problem = textProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .superRefine(noControls(controlButNewline));

/**
 * A link as given (the API's ChatLinkInput) and as recorded: a web page (url, optional thumbUrl picture) or a
 * mini program page (pagePath and thumbFileId, an image the agent uploaded to the chat: its cover).
 */
export const chatLinkValue = z
  .object({
    title: linkTitleValue,
    description: linkDescriptionValue.nullish(),
    url: linkUrlValue.nullish(),
    thumbUrl: linkUrlValue.nullish(),
    pagePath: pagePathValue.nullish(),
    thumbFileId: id.nullish(),
    /** A configured card's cover (a permanent image material of the account); set by Kefu from the card, not typed by agents. */
    thumbMediaId: mediaIdValue.nullish(),
    /** The configured card (WechatAccount.miniProgramCards) the link was made from. */
    cardKey: z.string().max(32).nullish(),
    /** An official account's configured card: the linked mini program whose page it opens; set by Kefu from the card. */
    appId: miniProgramAppIdValue.nullish(),
  })
  .superRefine((l, ctx) => {
    if ((l.url == null) === (l.pagePath == null)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'give url (a web page) or pagePath (a mini program page), one of them' });
    else if (l.pagePath != null && (l.thumbFileId == null) === (l.thumbMediaId == null)) ctx.addIssue({ code: 'custom', path: ['thumbFileId'], message: 'a mini program page needs its cover: an image uploaded to the chat' });
    else if (l.url != null && l.thumbMediaId != null) ctx.addIssue({ code: 'custom', path: ['thumbMediaId'], message: 'a web link takes its picture as thumbUrl' });
    else if (l.pagePath != null && l.thumbUrl != null) ctx.addIssue({ code: 'custom', path: ['thumbUrl'], message: 'a mini program page takes its cover as thumbFileId, not thumbUrl' });
    else if (l.url != null && l.thumbFileId != null) ctx.addIssue({ code: 'custom', path: ['thumbFileId'], message: 'a web link takes its picture as thumbUrl' });
    else if (l.appId != null && l.thumbMediaId == null) ctx.addIssue({ code: 'custom', path: ['appId'], message: 'a linked mini program\'s page is one of the account\'s configured cards' });
  })
  .transform(
    (l): ChatLink => ({
      title: l.title,
      description: l.description == null || l.description === '' ? null : l.description,
      url: l.url ?? null,
      thumbUrl: l.thumbUrl ?? null,
      pagePath: l.pagePath ?? null,
      thumbFileId: l.thumbFileId ?? null,
      ...(l.thumbMediaId ? { thumbMediaId: l.thumbMediaId } : {}),
      ...(l.cardKey ? { cardKey: l.cardKey } : {}),
      ...(l.appId ? { appId: l.appId } : {}),
    }),
  );

export type ChatLinkInput = z.input<typeof chatLinkValue>;

/** A link card as a message keeps it (every field present; null where not given). */
export interface ChatLink {
  title: string;
  description: string | null;
  /** A web page: http or https. Null for a mini program page. */
  url: string | null;
  /** The web link's picture (http or https), if any. */
  thumbUrl: string | null;
  /** A page of the account's mini program (WeChat mini program chats). */
  pagePath: string | null;
  /** The mini program page's cover: an image file of the chat. */
  thumbFileId: string | null;
  /** Or a configured card's cover: a permanent image material's media_id (sent as it is). */
  thumbMediaId?: string | null;
  /** The configured mini program card (WechatAccount.miniProgramCards) it was made from. */
  cardKey?: string | null;
  /** An official account's card: the AppID of the linked mini program whose page it opens (miniprogrampage.appid). */
  appId?: string | null;
}

/**
 * A mini program card an admin configured on a WeChat account (issue 13): agents pick it by key. A mini program's
 * cards open its own pages; an official account's open a mini program linked to it in the WeChat console, named
 * by its AppID (custom/send's miniprogrampage takes it from official accounts only).
 */
export interface MiniProgramCard {
  key: string;
  /** Official accounts: the linked mini program's AppID. Mini programs' own cards have none. */
  appId?: string | null;
  title: string;
  pagePath: string;
  /** The cover: a permanent image material's media_id (WeChat's add_material), which does not expire. */
  thumbMediaId: string;
}

export const maxMiniProgramCards = 20;

/** The cards as given (the API's input and the account decider's check): keys unique, the link rules for title and path. */
export const miniProgramCardsValue = z
  .array(
    z.object({
      key: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'lower-case letters, digits, _ and -, 1 to 32 of them'),
      appId: miniProgramAppIdValue.nullish(),
      title: linkTitleValue,
      pagePath: pagePathValue,
      thumbMediaId: mediaIdValue,
    }),
  )
  .max(maxMiniProgramCards, `at most ${maxMiniProgramCards} cards`)
  .superRefine((cards, ctx) => {
    const seen = new Set<string>();
    cards.forEach((c, i) => {
      if (seen.has(c.key)) ctx.addIssue({ code: 'custom', path: [i, 'key'], message: `the key ${c.key} is used twice` });
      seen.add(c.key);
    });
  });

/** The first problem of a card list (the field under `miniProgramCards` and why), or null. */
export function miniProgramCardsProblem(cards: unknown): { field: string; message: string } | null {
  const r = miniProgramCardsValue.safeParse(cards);
  if (r.success) return null;
  const issue = r.error.issues[0]!;
  return { field: ['miniProgramCards', ...issue.path.map(String)].join('.'), message: issue.message };
}

/** The first problem of a link (the field under `link` and why), or null. */
export function chatLinkProblem(link: unknown): { field: string; message: string } | null {
  const r = chatLinkValue.safeParse(link);
  if (r.success) return null;
  const issue = r.error.issues[0]!;
  return { field: ['link', ...issue.path.map(String)].join('.'), message: issue.message };
}

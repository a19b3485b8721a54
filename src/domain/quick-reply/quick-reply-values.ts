// What a quick reply (OL-5, AV-7, AD-4) is made of, and how it is searched. Pure: zod and plain functions.
import { z } from 'zod';
import { text } from '../values.ts';

/** CCC allows at most 100 categories per instance. */
export const maxCategories = 100;
/** Replies in one shared category, and in one agent's personal list. */
export const maxRepliesPerCategory = 5_000;
export const maxPersonalReplies = 500;
/** Rows in one CSV import. */
export const maxImportRows = 5_000;

export const categoryName = text({ max: 100 });
export const replyTitle = text({ max: 100 });
export const replyContent = text({ max: 2000 });
/**
 * What an agent types to find a reply (`/hello`, `refund-1`): letters, digits, `_ - . /`, no spaces.
 * Compared without case and without a leading `/` (see shortcutKey).
 */
export const replyShortcut = text({ max: 32 }).pipe(z.string().regex(/^[\p{L}\p{N}_\-./]+$/u, 'letters, digits and _ - . / only, no spaces'));
/** An optional image shown with the reply: an http(s) URL the agent's client can load. */
export const replyImageUrl = text({ max: 2000 }).pipe(
  z.string().refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'an http or https URL'),
);

export const quickReplyFields = z.object({
  title: replyTitle,
  shortcut: replyShortcut,
  content: replyContent,
  imageUrl: replyImageUrl.nullish().transform((v) => v ?? null),
});
export type QuickReplyFields = z.infer<typeof quickReplyFields>;

/** The form shortcuts are compared and searched in: lower case, leading slashes dropped. */
export function shortcutKey(shortcut: string): string {
  return shortcut.trim().replace(/^\/+/, '').toLowerCase();
}

const cjk = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
/** Longest suffix kept of a run of CJK characters (they have no spaces between words). */
const maxCjkSuffix = 12;
/** Most tokens kept for one reply (a long text repeats itself anyway). */
const maxTokens = 400;

/**
 * The words a reply is found by, for search as you type: lower-cased runs of letters and digits. A CJK
 * run also gives each of its suffixes (up to 12 characters), so a prefix query finds any substring of it:
 * "退款流程" is found by "款流". Tokens hold only letters and digits, so they are safe inside a tsquery.
 */
export function searchTokens(...texts: string[]): string[] {
  const tokens = new Set<string>();
  for (const t of texts) {
    for (const m of t.normalize('NFKC').toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
      const word = m[0];
      const chars = [...word];
      if (!chars.some((c) => cjk.test(c))) {
        tokens.add(word.slice(0, 60));
        continue;
      }
      // Split into CJK runs and other runs; each CJK run gives its suffixes.
      for (const run of word.match(/(?:[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+|[^\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+)/gu) ?? []) {
        const rc = [...run];
        if (!cjk.test(rc[0]!)) {
          tokens.add(run.slice(0, 60));
          continue;
        }
        for (let i = 0; i < rc.length; i++) tokens.add(rc.slice(i, i + maxCjkSuffix).join(''));
      }
      if (tokens.size >= maxTokens) break;
    }
  }
  return [...tokens].slice(0, maxTokens);
}

/** The query words of what the agent typed (the same tokens as searchTokens, without CJK suffixes). */
export function queryWords(search: string): string[] {
  const words = [...search.normalize('NFKC').toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)].map((m) => m[0].slice(0, 60));
  return [...new Set(words)].slice(0, 8);
}

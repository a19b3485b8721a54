// What the stores can hold, defined once. Every input (GraphQL arguments and scalars, cursors, SIP
// headers), every event payload (the command handler's last check) and every read model rely on these
// definitions, so a value that PostgreSQL, PGlite or EventStoreDB cannot hold, or that a projection would
// choke on, is refused where it comes in, with the field named, instead of failing later for everyone.
//
// - Text: no NUL (PostgreSQL text and jsonb cannot hold U+0000) and no unpaired UTF-16 surrogate (jsonb
//   refuses it, and EventStoreDB's UTF-8 would turn it into U+FFFD, so it would not read back the same).
// - Dates: 0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z, the years every store and
//   Date.prototype.toISOString write as four digits (PostgreSQL refuses JavaScript's "+010000-…" form and
//   year 0); an expiry is at most 100 years ahead.
// - Values in events: JSON only (finite numbers, no bigint), nested at most maxValueDepth deep.
//
// Pure: zod and plain functions, no I/O. Exports are used across the code base: keep them stable.
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------------
// Text

/** A NUL or an unpaired surrogate. With the u flag a surrogate pair is one code point, so only lone halves match. */
// eslint-disable-next-line no-control-regex -- finding NUL is the point
const unstorableCharacter = /[\u0000\uD800-\uDFFF]/u;

/** Why a string cannot be stored as it is, or null when it can. */
export function textProblem(s: string): string | null {
  const m = unstorableCharacter.exec(s);
  if (!m) return null;
  return m[0] === '\u0000' ? 'must not contain NUL characters' : 'must not contain unpaired UTF-16 surrogates (not valid Unicode)';
}

export function isStorableText(s: string): boolean {
  return !unstorableCharacter.test(s);
}

export interface TextOptions {
  /** Longest accepted length in UTF-16 code units (what String.length counts), after trimming. */
  max: number;
  /** Shortest length after trimming; 1 by default (a required text must not be blank). */
  min?: number;
  /** Trim surrounding white space first; true by default. */
  trim?: boolean;
}

/** A storable string: trimmed (unless trim: false), min to max long, no NUL, no unpaired surrogate. */
export function text(options: TextOptions): z.ZodType<string, string> {
  const min = options.min ?? 1;
  let s = z.string();
  if (options.trim ?? true) s = s.trim();
  if (min > 0) s = s.min(min, min === 1 ? 'must not be empty' : `at least ${min} characters`);
  return s.max(options.max, `at most ${options.max} characters`).superRefine((v, ctx) => {
    const problem = textProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** Any storable string of at most `max` characters, kept as it is (empty allowed, not trimmed). */
export const storableText = (max: number) => text({ max, min: 0, trim: false });

/** Names of things people name: agents, skill groups, instances, API keys, flows, trunks. */
export const name = text({ max: 200 });
/** Why: forcing an agent offline, ending a contact, a review, a blacklist entry. */
export const reason = text({ max: 200 });
/** One of an instance's break reasons. */
export const breakReason = text({ max: 50 });
/** A note handed on with a transfer. */
export const note = text({ max: 1000 });
/** A chat message as the sender wrote it (white space kept). */
export const messageText = text({ max: 5000, trim: false });
/** Who a customer is on a channel: a phone number, a WeChat OpenID, a visitor id. */
export const customerIdentity = text({ max: 128 });
/** Customer data passed along with a contact: keys and values. */
export const dataKey = text({ max: 64 });
export const dataValue = storableText(2000);
/** Search terms for list filters (may be empty). */
export const searchText = text({ max: 200, min: 0 });

// ---------------------------------------------------------------------------------------------------
// Ids

/** An id Kefu made: a UUID. */
export const id = z.uuid({ message: 'not a valid id' });

// ---------------------------------------------------------------------------------------------------
// Dates and times

export const minDateTime = new Date('0001-01-01T00:00:00.000Z');
export const maxDateTime = new Date('9999-12-31T23:59:59.999Z');
/** An expiry (blacklist entry, and the like) is at most this far ahead. */
export const maxExpiryYears = 100;

/** Why a Date cannot be stored, or null when it can. */
export function dateTimeProblem(d: Date): string | null {
  const t = d.getTime();
  if (Number.isNaN(t)) return 'not a valid date';
  if (t < minDateTime.getTime() || t > maxDateTime.getTime()) return 'must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z';
  return null;
}

/** RFC 3339 date and time with seconds and an offset (Z or ±hh:mm); real calendar dates only. */
const isoDateTime = z.iso.datetime({ offset: true, message: 'an ISO 8601 date and time with an offset, years 0001 to 9999, like 2026-12-04T10:00:00Z' });

/**
 * A date and time as clients send it: an RFC 3339 string, within what the stores hold. Parses to a Date.
 * "tomorrow", "2026-02-30T00:00:00Z", "+010000-01-01T00:00:00Z" and numbers are refused.
 */
export const dateTimeText = z
  .string({ message: 'an ISO 8601 date and time, like 2026-12-04T10:00:00Z' })
  .pipe(isoDateTime)
  .transform((s, ctx) => {
    const d = new Date(s);
    const problem = dateTimeProblem(d);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return d;
  });

/** A Date within what the stores hold (as the DateTime scalar gives it to resolvers). */
export const dateTime = z.date({ message: 'not a date' }).superRefine((d, ctx) => {
  const problem = dateTimeProblem(d);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** The latest expiry accepted at `now`. */
export function latestExpiry(now: Date | string): Date {
  const d = new Date(now);
  d.setUTCFullYear(d.getUTCFullYear() + maxExpiryYears);
  return d;
}

/** An expiry: a storable date at most maxExpiryYears after `now` (whether it may be past is the decider's rule). */
export function expiry(now: Date | string) {
  const latest = latestExpiry(now);
  return dateTime.refine((d) => d.getTime() <= latest.getTime(), `at most ${maxExpiryYears} years from now`);
}

/**
 * Strings exactly as Date.prototype.toISOString writes them, including its extended "+010000-…" years:
 * how events hold timestamps, and what projections cast to timestamptz.
 */
const jsTimestamp = /^(?:[+-]\d{6}|\d{4})-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// ---------------------------------------------------------------------------------------------------
// Page cursors

/**
 * What a page cursor stands for: the (time, id) of the last row of a page of a list ordered by time and
 * id. Checked in full when decoded, so nothing but a real time and a UUID reaches SQL.
 */
export const cursorPosition = z.tuple([dateTimeText, id]);

// ---------------------------------------------------------------------------------------------------
// Any value in an event

/** Deepest nesting of arrays and objects accepted in an event's data or a JSON input (flow documents need ~8). */
export const maxValueDepth = 32;

export interface FindUnstorableOptions {
  /** Deepest nesting of arrays and objects; maxValueDepth by default. */
  maxDepth?: number;
  /**
   * Also refuse strings written as Date.prototype.toISOString writes a timestamp when their date is outside
   * 0001-9999 (true by default: events hold timestamps as such strings). Inputs where any string is just
   * text (arguments, JSON documents) turn it off.
   */
  timestamps?: boolean;
}

export interface ValueProblem {
  /** Where in the value: keys and indexes from the top. */
  path: (string | number)[];
  problem: string;
}

/**
 * The first thing in a JSON-like value that a store cannot hold, or null: unstorable text (values and
 * keys), a timestamp string or a Date outside the stores' range, a number that is not finite, a bigint,
 * symbol or function, or nesting deeper than maxDepth. Recursive, but never deeper than maxDepth + 1 calls (an
 * object nested deeper is the problem found), so a deep value cannot exhaust the stack. Found in the order of a
 * walk from the top: an object's keys (the last bad one), then its values in order, each with its own keys and
 * values first.
 */
export function findUnstorableValue(value: unknown, options: FindUnstorableOptions = {}): ValueProblem | null {
  const maxDepth = options.maxDepth ?? maxValueDepth;
  const timestamps = options.timestamps ?? true;
  // The path is built only for the problem found, on the way back up (events are checked on every append: no
  // object per value visited).
  const path: (string | number)[] = [];
  const problem = problemIn(value, 0, maxDepth, timestamps, path);
  return problem === null ? null : { path: path.reverse(), problem };
}

/** The problem in `v` at `depth`, with its place pushed onto `path` innermost first; null if none. */
function problemIn(v: unknown, depth: number, maxDepth: number, timestamps: boolean, path: (string | number)[]): string | null {
  const problem = scalarProblem(v, timestamps);
  if (problem) return problem;
  if (v === null || typeof v !== 'object' || v instanceof Date) return null;
  if (depth >= maxDepth) return `nested more than ${maxDepth} deep`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const inside = problemIn(v[i], depth + 1, maxDepth, timestamps, path);
      if (inside !== null) {
        path.push(i);
        return inside;
      }
    }
    return null;
  }
  const keys = Object.keys(v);
  for (let i = keys.length - 1; i >= 0; i--) {
    const keyProblem = textProblem(keys[i]!);
    if (keyProblem) {
      path.push(keys[i]!);
      return `its name ${keyProblem}`;
    }
  }
  for (const key of keys) {
    const inside = problemIn((v as Record<string, unknown>)[key], depth + 1, maxDepth, timestamps, path);
    if (inside !== null) {
      path.push(key);
      return inside;
    }
  }
  return null;
}

function scalarProblem(v: unknown, timestamps: boolean): string | null {
  switch (typeof v) {
    case 'string': {
      const problem = textProblem(v);
      if (problem) return problem;
      if (!timestamps || !jsTimestamp.test(v)) return null;
      // One JavaScript cannot read (month 13) is just text; one it reads must be in range (projections cast it).
      const d = new Date(v);
      return Number.isNaN(d.getTime()) ? null : dateTimeProblem(d);
    }
    case 'number':
      return Number.isFinite(v) ? null : 'not a finite number';
    case 'bigint':
    case 'symbol':
    case 'function':
      return `a ${typeof v} is not a JSON value`;
    default:
      return v instanceof Date ? dateTimeProblem(v) : null;
  }
}

/** A path as field names show it: `customer.name`, `nodes.0.next`. */
export function pathToField(path: readonly (string | number)[]): string {
  return path.map(String).join('.');
}

// The value definitions (src/domain/values.ts) against independent oracles: text is storable exactly when
// it survives UTF-8 (what EventStoreDB and PostgreSQL hold) and has no NUL; a date is accepted exactly when
// its year is 1 to 9999; the deep check never overflows the stack. KEFU_FUZZ_SEED=<seed> replays a run.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cursorPosition,
  dateTimeText,
  expiry,
  findUnstorableValue,
  isStorableText,
  latestExpiry,
  maxValueDepth,
  name,
  textProblem,
} from '../../src/domain/values.ts';

const seed = Number(process.env.KEFU_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const options = { seed, numRuns: 2000 };
console.log(`values.unit seed ${seed} (replay with KEFU_FUZZ_SEED=${seed})`);

const anyText = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary-ascii' }));
const survivesUtf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;

describe('storable text', () => {
  it('is exactly the text that survives UTF-8 and has no NUL', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        expect(isStorableText(s)).toBe(survivesUtf8(s) && !s.includes('\u0000'));
        expect(textProblem(s) === null).toBe(isStorableText(s));
      }),
      options,
    );
  });

  it('names: trimmed, 1 to 200 characters, storable', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const r = name.safeParse(s);
        const trimmed = s.trim();
        expect(r.success).toBe(trimmed.length >= 1 && trimmed.length <= 200 && isStorableText(trimmed));
        if (r.success) expect(r.data).toBe(trimmed);
      }),
      options,
    );
  });

  it('keeps surrogate pairs (astral characters) and refuses either half alone', () => {
    expect(isStorableText('😀𝄞')).toBe(true);
    expect(isStorableText('😀'.slice(0, 1))).toBe(false);
    expect(isStorableText('😀'.slice(1))).toBe(false);
    expect(isStorableText('😀'.slice(1) + '😀'.slice(0, 1))).toBe(false);
  });
});

describe('dates and times', () => {
  const jsRange = fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true });

  it('accepts a date written by toISOString exactly when its year is 1 to 9999, and reads it back as it was', () => {
    fc.assert(
      fc.property(jsRange, (d) => {
        const r = dateTimeText.safeParse(d.toISOString());
        const year = d.getUTCFullYear();
        expect(r.success).toBe(year >= 1 && year <= 9999);
        if (r.success) expect(r.data.getTime()).toBe(d.getTime());
      }),
      options,
    );
  });

  it('judges the instant, not the written year: an offset can carry a date past either end', () => {
    expect(dateTimeText.safeParse('9999-12-31T23:59:59.999Z').success).toBe(true);
    expect(dateTimeText.safeParse('9999-12-31T23:00:00-05:00').success).toBe(false);
    expect(dateTimeText.safeParse('0001-01-01T00:00:00Z').success).toBe(true);
    expect(dateTimeText.safeParse('0001-01-01T00:00:00+01:00').success).toBe(false);
  });

  it('refuses what Date.parse reads loosely', () => {
    for (const s of ['1', 'tomorrow', '2026-12-04', 'Fri Dec 04 2026', '2026-02-30T00:00:00Z', '2026-12-04T10:00Z', '+010000-01-01T00:00:00.000Z', '']) {
      expect(dateTimeText.safeParse(s).success, s).toBe(false);
    }
    expect(dateTimeText.safeParse(1_700_000_000_000).success).toBe(false);
  });

  it('takes an expiry up to 100 years ahead', () => {
    const now = new Date('2026-12-04T10:00:00.000Z');
    expect(latestExpiry(now).toISOString()).toBe('2126-12-04T10:00:00.000Z');
    expect(expiry(now).safeParse(new Date('2126-12-04T10:00:00.000Z')).success).toBe(true);
    expect(expiry(now).safeParse(new Date('2126-12-04T10:00:00.001Z')).success).toBe(false);
  });
});

describe('cursor positions', () => {
  it('are a storable RFC 3339 time and a UUID, nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uuid(), anyText), fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), anyText), (id, at) => {
        const r = cursorPosition.safeParse([at, id]);
        expect(r.success).toBe(dateTimeText.safeParse(at).success && /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(id));
      }),
      options,
    );
  });
});

describe('the deep check of event payloads', () => {
  const storableJson = fc.jsonValue({ maxDepth: 8 }).filter((v) => {
    const s = JSON.stringify(v);
    return survivesUtf8(s) && !s.includes('\\u0000');
  });

  it('finds nothing in JSON that survives UTF-8, and what it passes round-trips through JSON', () => {
    fc.assert(
      fc.property(storableJson, (v) => {
        const bad = findUnstorableValue(v, { timestamps: false });
        expect(bad).toBeNull();
        // As JSON: -0 is written 0, which is the same number to every store.
        expect(JSON.stringify(JSON.parse(JSON.stringify(v)))).toBe(JSON.stringify(v));
      }),
      { ...options, numRuns: 500 },
    );
  });

  it('names the path of the first NUL or unpaired surrogate, in a value or a key', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 0, 1), { maxLength: 10 }), fc.constantFrom('\u0000', '\uD800', '\uDFFF'), fc.boolean(), (path, bad, inKey) => {
        let v: unknown = inKey ? { [`k${bad}`]: 1 } : `x${bad}`;
        for (const step of [...path].reverse()) v = typeof step === 'number' ? Object.assign([], { [step]: v }) : { [step]: v };
        const found = findUnstorableValue(v);
        expect(found?.path).toEqual(inKey ? [...path, `k${bad}`] : path);
      }),
      { ...options, numRuns: 300 },
    );
  });

  it('finds what the iterative walk it replaced found (the same problem at the same path), problems anywhere', () => {
    // The walk before issue 11's (one object per value visited): the oracle for the order problems are found in.
    type Visit = { value: unknown; key: string | number | null; parent: Visit | null; depth: number };
    const pathOf = (visit: Visit) => {
      const path: (string | number)[] = [];
      for (let v: Visit | null = visit; v && v.key !== null; v = v.parent) path.push(v.key);
      return path.reverse();
    };
    const oracle = (value: unknown, maxDepth: number, timestamps: boolean) => {
      const stack: Visit[] = [{ value, key: null, parent: null, depth: 0 }];
      while (stack.length > 0) {
        const visit = stack.pop()!;
        const v = visit.value;
        // A scalar's own problem, as the function under test reports it for that scalar alone.
        const problem = v !== null && typeof v === 'object' && !(v instanceof Date) ? null : (findUnstorableValue(v, { timestamps })?.problem ?? null);
        if (problem) return { path: pathOf(visit), problem };
        if (v === null || typeof v !== 'object' || v instanceof Date) continue;
        if (visit.depth >= maxDepth) return { path: pathOf(visit), problem: `nested more than ${maxDepth} deep` };
        const depth = visit.depth + 1;
        if (Array.isArray(v)) {
          for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], key: i, parent: visit, depth });
          continue;
        }
        const keys = Object.keys(v);
        for (let i = keys.length - 1; i >= 0; i--) {
          const key = keys[i]!;
          const keyProblem = textProblem(key);
          if (keyProblem) return { path: [...pathOf(visit), key], problem: `its name ${keyProblem}` };
          stack.push({ value: (v as Record<string, unknown>)[key], key, parent: visit, depth });
        }
      }
      return null;
    };
    const scalar = fc.oneof(
      anyText,
      fc.constantFrom('x\u0000', '\uD800', '10000-01-01T00:00:00.000Z', '2024-05-01T10:00:00.000Z', '0000-12-31T23:59:59.999Z'),
      fc.double(),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, 1n, new Date(-62198755200001), new Date(0), null, true),
    );
    const key = fc.oneof(fc.constantFrom('a', 'b', 'c', 'k\u0000', '\uDFFF'), anyText);
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
      array: fc.array(tie('value'), { maxLength: 4 }),
      object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
    }));
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 6 }), fc.boolean(), (v, maxDepth, timestamps) => {
        expect(findUnstorableValue(v, { maxDepth, timestamps })).toEqual(oracle(v, maxDepth, timestamps));
      }),
      { ...options, numRuns: 3000 },
    );
  });

  it('returns on a value nested a million deep, without deep recursion', () => {
    let v: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) v = [v];
    expect(findUnstorableValue(v)).toEqual({ path: Array(maxValueDepth).fill(0), problem: `nested more than ${maxValueDepth} deep` });
  });
});
